package playback

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/at-wat/ebml-go"
	mkv "github.com/at-wat/ebml-go/webm"

	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/segment"
	"github.com/vigilrec/vigil/internal/segment/webm"
)

// Element IDs (https://www.matroska.org/technical/elements.html).
const (
	idEBML     = 0x1A45DFA3
	idSegment  = 0x18538067
	idSeekHead = 0x114D9B74
	idInfo     = 0x1549A966
	idTracks   = 0x1654AE6B
	idCluster  = 0x1F43B675
	idCues     = 0x1C53BB6B
)

// webmReader reads vigil's WebM segments back, a cluster (about a second) at a time. The
// header level (SeekHead, Info, Tracks, Cues) goes through ebml-go; clusters, which carry every
// byte of media, are parsed here. With the file's Cues it seeks straight to the cluster of a
// keyframe instead of reading everything before it.
type webmReader struct {
	r       io.Reader
	pos     int64 // offset in the file of the next byte to read
	segData int64 // offset of the Segment's data
	cuesAt  int64 // from the Segment's data; -1 when the file has no SeekHead to its Cues
	scale   time.Duration
	tracks  []segment.Track
	numbers map[uint64]int // track number → index in tracks
	// pending is a Cluster whose header the header parse stopped at.
	pending     bool
	pendingSize int64
	firstAt     int64 // offset of the first Cluster
	buf         []byte
	sampleQueue
}

func newWebMReader(r io.Reader) (*webmReader, error) {
	w := &webmReader{r: r, cuesAt: -1, scale: time.Millisecond, numbers: map[uint64]int{}}
	id, size, _, err := w.header()
	if err != nil || id != idEBML || size < 0 {
		return nil, fmt.Errorf("not a WebM file: %w", errors.Join(err, errBadWebM))
	}
	if err := w.skip(size); err != nil {
		return nil, err
	}
	if id, _, _, err = w.header(); err != nil || id != idSegment {
		return nil, fmt.Errorf("no Segment: %w", errors.Join(err, errBadWebM))
	}
	w.segData = w.pos
	for {
		start := w.pos
		id, size, head, err := w.header()
		if err != nil {
			return nil, fmt.Errorf("read the header: %w", err)
		}
		if id == idCluster {
			w.pending, w.pendingSize, w.firstAt = true, size, start
			break
		}
		if size < 0 {
			return nil, fmt.Errorf("%w: an element of unknown size in the header", errBadWebM)
		}
		switch id {
		case idSeekHead, idInfo, idTracks:
			body, err := w.read(size)
			if err != nil {
				return nil, err
			}
			if err := w.headerElement(id, slices.Concat(head, body)); err != nil {
				return nil, err
			}
		default:
			if err := w.skip(size); err != nil {
				return nil, err
			}
		}
	}
	if len(w.tracks) == 0 {
		return nil, fmt.Errorf("%w: no tracks", errBadWebM)
	}
	return w, nil
}

var errBadWebM = errors.New("malformed WebM")

func (w *webmReader) headerElement(id uint32, el []byte) error {
	switch id {
	case idSeekHead:
		var v struct {
			SeekHead mkv.SeekHead `ebml:"SeekHead"`
		}
		if err := ebml.Unmarshal(bytes.NewReader(el), &v); err != nil {
			return fmt.Errorf("parse SeekHead: %w", err)
		}
		for _, s := range v.SeekHead.Seek {
			if bytes.Equal(s.SeekID, []byte{0x1C, 0x53, 0xBB, 0x6B}) {
				w.cuesAt = int64(s.SeekPosition)
			}
		}
	case idInfo:
		var v struct {
			Info mkv.Info `ebml:"Info"`
		}
		if err := ebml.Unmarshal(bytes.NewReader(el), &v); err != nil {
			return fmt.Errorf("parse Info: %w", err)
		}
		if v.Info.TimecodeScale > 0 {
			w.scale = time.Duration(v.Info.TimecodeScale)
		}
	case idTracks:
		var v struct {
			Tracks mkv.Tracks `ebml:"Tracks"`
		}
		if err := ebml.Unmarshal(bytes.NewReader(el), &v); err != nil {
			return fmt.Errorf("parse Tracks: %w", err)
		}
		for _, e := range v.Tracks.TrackEntry {
			t, err := webmTrack(e)
			if err != nil {
				return err
			}
			w.numbers[e.TrackNumber] = len(w.tracks)
			w.tracks = append(w.tracks, t)
		}
	}
	return nil
}

func webmTrack(e mkv.TrackEntry) (segment.Track, error) {
	t := segment.Track{Kind: media.KindVideo, ClockRate: 90000}
	switch e.CodecID {
	case "V_VP8":
		t.Codec = media.VP8
	case "V_VP9":
		t.Codec = media.VP9
	case "V_AV1":
		t.Codec = media.AV1
		if len(e.CodecPrivate) > 4 {
			t.SequenceHeader = e.CodecPrivate[4:]
		}
	case "A_OPUS":
		t.Kind, t.Codec, t.ClockRate, t.Channels = media.KindAudio, media.Opus, 48000, 1
		if e.Audio != nil && e.Audio.Channels > 0 {
			t.Channels = int(e.Audio.Channels)
		}
		return t, nil
	default:
		return t, fmt.Errorf("%w: a %s track", ErrFormat, e.CodecID)
	}
	if e.Video != nil {
		t.Width, t.Height = int(e.Video.PixelWidth), int(e.Video.PixelHeight)
	}
	if t.Codec == media.VP9 {
		t.VP9BitDepth = 8
	}
	return t, nil
}

// header reads an element header: its ID, size (-1 when unknown) and raw bytes.
func (w *webmReader) header() (uint32, int64, []byte, error) {
	var h [12]byte
	if _, err := io.ReadFull(w.r, h[:1]); err != nil {
		return 0, 0, nil, err
	}
	idLen := 1
	for idLen <= 4 && h[0]&(0x80>>(idLen-1)) == 0 {
		idLen++
	}
	if idLen > 4 {
		return 0, 0, nil, errBadWebM
	}
	if _, err := io.ReadFull(w.r, h[1:idLen+1]); err != nil {
		return 0, 0, nil, errBadWebM
	}
	sizeLen := 1
	for sizeLen <= 8 && h[idLen]&(0x80>>(sizeLen-1)) == 0 {
		sizeLen++
	}
	if sizeLen > 8 {
		return 0, 0, nil, errBadWebM
	}
	if _, err := io.ReadFull(w.r, h[idLen+1:idLen+sizeLen]); err != nil {
		return 0, 0, nil, errBadWebM
	}
	w.pos += int64(idLen + sizeLen)
	var id uint32
	for _, c := range h[:idLen] {
		id = id<<8 | uint32(c)
	}
	size := int64(h[idLen] & (0xff >> sizeLen))
	allOnes := size == int64(0xff>>sizeLen)
	for _, c := range h[idLen+1 : idLen+sizeLen] {
		size = size<<8 | int64(c)
		allOnes = allOnes && c == 0xff
	}
	if allOnes {
		size = -1
	}
	return id, size, slices.Clone(h[:idLen+sizeLen]), nil
}

func (w *webmReader) read(n int64) ([]byte, error) {
	if n > maxBox {
		return nil, fmt.Errorf("%w: an element of %d bytes", errBadWebM, n)
	}
	w.buf = slices.Grow(w.buf[:0], int(n))[:n]
	if _, err := io.ReadFull(w.r, w.buf); err != nil {
		return nil, err
	}
	w.pos += n
	return w.buf, nil
}

func (w *webmReader) skip(n int64) error {
	if s, ok := w.r.(io.Seeker); ok {
		if _, err := s.Seek(n, io.SeekCurrent); err != nil {
			return err
		}
	} else if _, err := io.CopyN(io.Discard, w.r, n); err != nil {
		return err
	}
	w.pos += n
	return nil
}

func (w *webmReader) seekAbs(at int64) error {
	s, ok := w.r.(io.Seeker)
	if !ok {
		return errors.New("not seekable")
	}
	if _, err := s.Seek(at, io.SeekStart); err != nil {
		return err
	}
	w.pos, w.pending = at, false
	return nil
}

// seekBefore moves to the cluster of the last indexed keyframe at or before t (from the file's
// start), reading only the Cues; without Cues (or a keyframe before t) it stays where it is.
func (w *webmReader) seekBefore(t time.Duration) error {
	if w.cuesAt < 0 || !w.pending {
		return nil
	}
	if _, ok := w.r.(io.Seeker); !ok {
		return nil
	}
	if err := w.seekAbs(w.segData + w.cuesAt); err != nil {
		return err
	}
	id, size, head, err := w.header()
	if err != nil || id != idCues || size < 0 {
		return w.resume() // an index that is not there: read from the start
	}
	body, err := w.read(size)
	if err != nil {
		return w.resume()
	}
	var v struct {
		Cues mkv.Cues `ebml:"Cues"`
	}
	if err := ebml.Unmarshal(bytes.NewReader(slices.Concat(head, body)), &v); err != nil {
		return w.resume()
	}
	best := int64(-1)
	for _, c := range v.Cues.CuePoint {
		if time.Duration(c.CueTime)*w.scale > t || len(c.CueTrackPositions) == 0 {
			continue
		}
		best = int64(c.CueTrackPositions[0].CueClusterPosition)
	}
	if best < 0 {
		return w.resume()
	}
	return w.seekAbs(w.segData + best)
}

// resume goes back to the first cluster.
func (w *webmReader) resume() error { return w.seekAbs(w.firstAt) }

func (w *webmReader) trackList() []segment.Track { return w.tracks }

func (w *webmReader) next() (sample, error) { return w.pop(w.cluster) }

// cluster reads the next Cluster into the queue.
func (w *webmReader) cluster() error {
	w.reset()
	size := w.pendingSize
	if !w.pending {
		for {
			id, sz, _, err := w.header()
			if errors.Is(err, io.EOF) {
				w.done = true
				return nil
			}
			if err != nil {
				return err
			}
			if id == idCluster {
				size = sz
				break
			}
			if sz < 0 {
				return fmt.Errorf("%w: an element of unknown size", errBadWebM)
			}
			if err := w.skip(sz); err != nil {
				return err
			}
		}
	}
	w.pending = false
	if size < 0 {
		return fmt.Errorf("%w: a cluster of unknown size", errBadWebM)
	}
	body, err := w.read(size)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	err = webm.ClusterBlocks(body, func(number uint64, at int64, key bool, frame []byte) bool {
		if track, ok := w.numbers[number]; ok {
			w.samples = append(w.samples, sample{track: track, key: key, data: frame, pts: time.Duration(at) * w.scale})
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("%w: %w", errBadWebM, err)
	}
	return nil
}
