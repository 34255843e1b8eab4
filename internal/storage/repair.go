package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	mcfmp4 "github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/vigilrec/vigil/internal/segment/webm"
)

// Recovered is a segment found unfinished at start and made final.
type Recovered struct {
	Path     string
	Bytes    int64
	Duration time.Duration
	// Cut is how many trailing bytes (a torn fragment or cluster) were removed.
	Cut int64
}

// Recover repairs and renames every ".part" file left in the directory by a crash.
func (s *Store) Recover() ([]Recovered, error) {
	matches, err := filepath.Glob(filepath.Join(s.dir, "*"+PartSuffix))
	if err != nil {
		return nil, fmt.Errorf("list unfinished segments: %w", err)
	}
	var out []Recovered
	var errs []error
	for _, part := range matches {
		if fi, err := os.Lstat(part); err != nil || !fi.Mode().IsRegular() {
			s.log.Warn("not repairing an unfinished segment that is not a regular file (a symlink?)", "file", filepath.Base(part))
			continue
		}
		r, err := repair(part)
		if err != nil {
			errs = append(errs, fmt.Errorf("repair %s: %w", filepath.Base(part), err))
			continue
		}
		out = append(out, r)
		s.log.Info("recovered unfinished segment", "file", filepath.Base(r.Path), "bytes", r.Bytes,
			"duration", r.Duration, "cut_bytes", r.Cut)
	}
	return out, errors.Join(errs...)
}

func repair(part string) (Recovered, error) {
	rf, err := OpenRegular(part, os.O_RDONLY)
	if err != nil {
		return Recovered{}, err
	}
	data, err := io.ReadAll(rf)
	rf.Close()
	if err != nil {
		return Recovered{}, err
	}
	final := freeName(strings.TrimSuffix(part, PartSuffix))
	var keep int64
	var dur time.Duration
	var patch func(f *os.File) error
	switch strings.ToLower(filepath.Ext(strings.TrimSuffix(part, PartSuffix))) {
	case ".mp4":
		keep = mp4WholeLength(data)
		dur = mp4Duration(data[:keep])
	case ".webm":
		var durPos int64
		keep, dur, durPos = webmWholeLength(data)
		// What Close would have written: the Cues after the last whole cluster, the SeekHead in
		// the room left for it, the duration.
		cuesAt, points, seekHeadAt := webmCuePoints(data[:keep])
		patch = func(f *os.File) error {
			if len(points) > 0 && seekHeadAt > 0 {
				cues := webm.AppendCues(nil, points)
				if _, err := f.WriteAt(cues, keep); err != nil {
					return err
				}
				if _, err := f.WriteAt(webm.SeekHead(cuesAt), seekHeadAt); err != nil {
					return err
				}
				keep += int64(len(cues))
			}
			if durPos <= 0 {
				return nil
			}
			var b [8]byte
			binary.BigEndian.PutUint64(b[:], math.Float64bits(float64(dur)/float64(time.Millisecond)))
			_, err := f.WriteAt(b[:], durPos)
			return err
		}
	default:
		return Recovered{}, fmt.Errorf("unknown container")
	}
	if keep == 0 {
		// Not even a header: nothing playable to keep.
		return Recovered{}, errors.Join(errors.New("no complete header"), os.Remove(part))
	}
	cut := int64(len(data)) - keep
	f, err := OpenRegular(part, os.O_RDWR)
	if err != nil {
		return Recovered{}, err
	}
	err = f.Truncate(keep)
	if err == nil && patch != nil {
		err = patch(f)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Recovered{}, err
	}
	if err := os.Rename(part, final); err != nil {
		return Recovered{}, err
	}
	return Recovered{Path: final, Bytes: keep, Duration: dur, Cut: cut}, nil
}

// mp4WholeLength is the length of the leading whole boxes, ending after the last complete
// moof+mdat pair (or after moov when there is none).
func mp4WholeLength(b []byte) int64 {
	var pos, keep int64
	sawMoof := false
	for pos+8 <= int64(len(b)) {
		size := int64(binary.BigEndian.Uint32(b[pos:]))
		typ := string(b[pos+4 : pos+8])
		if size == 1 && pos+16 <= int64(len(b)) {
			size = int64(binary.BigEndian.Uint64(b[pos+8:]))
		}
		if size < 8 || size > int64(len(b))-pos { // not pos+size: a 64-bit size can overflow it
			break
		}
		pos += size
		switch typ {
		case "moov":
			keep = pos
		case "moof":
			sawMoof = true
		case "mdat":
			if sawMoof {
				keep, sawMoof = pos, false
			}
		}
	}
	return keep
}

// mp4Duration sums the sample durations of the first track (the video when there is one).
func mp4Duration(b []byte) time.Duration {
	var init mcfmp4.Init
	if err := init.Unmarshal(bytes.NewReader(b)); err != nil || len(init.Tracks) == 0 {
		return 0
	}
	var parts mcfmp4.Parts
	if err := parts.Unmarshal(b); err != nil {
		return 0
	}
	first := init.Tracks[0]
	var end uint64
	for _, p := range parts {
		for _, t := range p.Tracks {
			if t.ID != first.ID {
				continue
			}
			e := t.BaseTime
			for _, s := range t.Samples {
				e += uint64(s.Duration)
			}
			end = max(end, e)
		}
	}
	return time.Duration(end) * time.Second / time.Duration(first.TimeScale)
}

// EBML element IDs used by repair.
const (
	idEBML     = 0x1A45DFA3
	idSegment  = 0x18538067
	idCluster  = 0x1F43B675
	idTimecode = 0xE7
	idSimple   = 0xA3
	idInfo     = 0x1549A966
	idDuration = 0x4489
	idTracks   = 0x1654AE6B
	idCues     = 0x1C53BB6B
	idSeekHead = 0x114D9B74
	idVoid     = 0xEC
)

// webmCuePoints indexes the whole clusters of b as the writer does (each cluster's first
// keyframe of track 1) and says where the Cues go (from the Segment's data start) and where the
// room for the SeekHead is (0: none, a file of an older vigil).
func webmCuePoints(b []byte) (cuesAt int64, points []webm.CuePoint, seekHeadAt int64) {
	id, size, n := webm.Element(b)
	if id != idEBML || n == 0 || int64(n)+size > int64(len(b)) {
		return 0, nil, 0
	}
	pos := int64(n) + size
	id, _, n = webm.Element(b[pos:])
	if id != idSegment || n == 0 {
		return 0, nil, 0
	}
	data := pos + int64(n)
	if vid, vsize, vn := webm.Element(b[data:]); vid == idVoid && int64(vn)+vsize == webm.ReservedHead {
		seekHeadAt = data
	}
	for pos = data; pos < int64(len(b)); {
		id, size, n := webm.Element(b[pos:])
		if n == 0 || size < 0 || pos+int64(n)+size > int64(len(b)) {
			break
		}
		if id == idCluster {
			if at, ok := clusterKeyframe(b[pos+int64(n) : pos+int64(n)+size]); ok {
				points = append(points, webm.CuePoint{Time: at, Cluster: pos - data})
			}
		}
		pos += int64(n) + size
	}
	return pos - data, points, seekHeadAt
}

// clusterKeyframe is the time of the cluster's first keyframe of track 1.
func clusterKeyframe(body []byte) (time.Duration, bool) {
	var at time.Duration
	found := false
	_ = webm.ClusterBlocks(body, func(track uint64, t int64, key bool, _ []byte) bool {
		if track == 1 && key {
			at, found = time.Duration(t)*time.Millisecond, true
		}
		return !found
	})
	return at, found
}

// webmWholeLength keeps the header and the complete Clusters, and returns the media duration and
// the file offset of the Duration float to patch (0 when absent).
func webmWholeLength(b []byte) (keep int64, dur time.Duration, durPos int64) {
	id, size, n := webm.Element(b)
	if id != idEBML || n == 0 || int64(n)+size > int64(len(b)) {
		return 0, 0, 0
	}
	pos := int64(n) + size
	id, _, n = webm.Element(b[pos:])
	if id != idSegment || n == 0 {
		return 0, 0, 0
	}
	pos += int64(n)
	var lastEnd time.Duration
	sawTracks := false
	for pos < int64(len(b)) {
		id, size, n := webm.Element(b[pos:])
		if n == 0 || size < 0 || pos+int64(n)+size > int64(len(b)) {
			break
		}
		body := b[pos+int64(n) : pos+int64(n)+size]
		switch id {
		case idInfo:
			if i := bytes.Index(body, []byte{0x44, 0x89, 0x88}); i >= 0 {
				durPos = pos + int64(n) + int64(i) + 3
			}
		case idCluster:
			lastEnd = max(lastEnd, clusterEnd(body))
		}
		pos += int64(n) + size
		if id == idTracks {
			sawTracks = true
		}
		if sawTracks && (id == idCluster || id == idInfo || id == idTracks || id == idCues || id == idSeekHead || id == idVoid) {
			keep = pos // without Tracks there is nothing a player can open
		}
	}
	if durPos+8 > keep {
		durPos = 0 // the Duration float must lie inside what is kept
	}
	return keep, lastEnd, durPos
}

// clusterEnd is the time of the last block in a cluster plus a nominal 20 ms frame.
func clusterEnd(body []byte) time.Duration {
	var last int64
	_ = webm.ClusterBlocks(body, func(_ uint64, t int64, _ bool, _ []byte) bool {
		last = max(last, t)
		return true
	})
	return time.Duration(last)*time.Millisecond + 20*time.Millisecond
}

// Duration reads the media duration of a finished file (0 when it cannot tell).
func Duration(path string) time.Duration {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".mp4":
		return mp4Duration(data)
	case ".webm":
		_, d, _ := webmWholeLength(data)
		return d
	}
	return 0
}
