// Package webm writes WebM (Matroska, https://www.matroska.org/technical/elements.html) for VP8,
// VP9 and AV1 video with Opus audio, encoding elements with ebml-go. The header is written at
// creation with an unknown-size Segment, and each Cluster (about one second) is written whole
// with one write, so the file is playable after any crash. Close writes the last Cluster and
// patches the Duration in the header.
package webm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/at-wat/ebml-go"
	mkv "github.com/at-wat/ebml-go/webm"

	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/segment"
)

var _ segment.Writer = (*Writer)(nil)

// durationPlaceholder marks the Duration element in the header so Close can find and patch it.
const durationPlaceholder = 1.0e-300

// Writer is a WebM segment writer.
type Writer struct {
	w           io.WriteSeeker
	opts        segment.Options
	ntracks     int
	durationPos int64 // file offset of the Duration float, -1 when absent
	segmentData int64 // file offset of the Segment's data: the reserved Void, then Info
	cues        []CuePoint
	written     int64
	closed      bool
	blocks      []block
	arena       segment.Arena // the blocks' data, until the cluster is written
	cluster     *[]byte       // the cluster being written, reused; nil: borrowed from opts.Buffers
	clusterPTS  time.Duration
	maxPTS      time.Duration
	end         time.Duration // where the file ends once closed
	lastDur     time.Duration
}

type block struct {
	track int
	pts   time.Duration
	key   bool
	data  []byte
}

type header struct {
	Header  mkv.EBMLHeader `ebml:"EBML"`
	Segment struct {
		Info   mkv.Info   `ebml:"Info"`
		Tracks mkv.Tracks `ebml:"Tracks"`
	} `ebml:"Segment,size=unknown"`
}

// New writes the WebM header for tracks to w.
func New(w io.WriteSeeker, tracks []segment.Track, opts segment.Options) (*Writer, error) {
	var h header
	h.Header = mkv.EBMLHeader{EBMLVersion: 1, EBMLReadVersion: 1, EBMLMaxIDLength: 4, EBMLMaxSizeLength: 8,
		DocType: "webm", DocTypeVersion: 4, DocTypeReadVersion: 2}
	h.Segment.Info = mkv.Info{TimecodeScale: uint64(time.Millisecond), MuxingApp: "vigil", WritingApp: "vigil",
		Duration: durationPlaceholder}
	for i, t := range tracks {
		e, err := trackEntry(i+1, t)
		if err != nil {
			return nil, err
		}
		h.Segment.Tracks.TrackEntry = append(h.Segment.Tracks.TrackEntry, e)
	}
	if opts.Duration > 0 {
		// Known in advance (an export): written now, and the writer never seeks back.
		h.Segment.Info.Duration = float64(opts.Duration) / float64(time.Millisecond)
	}
	if !opts.Start.IsZero() {
		h.Segment.Info.DateUTC = opts.Start
	}
	var buf bytes.Buffer
	if err := ebml.Marshal(&h, &buf); err != nil {
		return nil, fmt.Errorf("marshal webm header: %w", err)
	}
	head := buf.Bytes()
	seg := bytes.Index(head, []byte{0x18, 0x53, 0x80, 0x67})
	if seg < 0 {
		return nil, errors.New("marshal webm header: no Segment")
	}
	_, _, n := Element(head[seg:])
	dataAt := seg + n
	// The Segment begins with room for the SeekHead that Close writes once the Cues exist.
	head = slices.Concat(head[:dataAt], appendVoid(nil, ReservedHead), head[dataAt:])
	ww := &Writer{w: w, opts: opts.WithDefaults(), ntracks: len(tracks), durationPos: -1, lastDur: 20 * time.Millisecond,
		segmentData: int64(dataAt)}
	if ww.opts.Buffers == nil {
		ww.cluster = new([]byte)
	}
	var marker [11]byte
	marker[0], marker[1], marker[2] = 0x44, 0x89, 0x88
	binary.BigEndian.PutUint64(marker[3:], math.Float64bits(durationPlaceholder))
	if i := bytes.Index(head, marker[:]); i >= 0 {
		ww.durationPos = int64(i + 3)
	}
	if err := ww.write(head); err != nil {
		return nil, err
	}
	return ww, nil
}

func trackEntry(n int, t segment.Track) (mkv.TrackEntry, error) {
	e := mkv.TrackEntry{Name: string(t.Kind), TrackNumber: uint64(n), TrackUID: uint64(n)}
	switch t.Codec {
	case media.VP8, media.VP9, media.AV1:
		e.CodecID = map[media.Codec]string{media.VP8: "V_VP8", media.VP9: "V_VP9", media.AV1: "V_AV1"}[t.Codec]
		e.TrackType = 1
		e.Video = &mkv.Video{PixelWidth: uint64(t.Width), PixelHeight: uint64(t.Height)}
		if t.Codec == media.AV1 {
			e.CodecPrivate = av1CodecPrivate(t.SequenceHeader)
		}
	case media.Opus:
		channels := max(t.Channels, 1)
		e.CodecID, e.TrackType = "A_OPUS", 2
		e.Audio = &mkv.Audio{SamplingFrequency: 48000, Channels: uint64(channels)}
		e.CodecPrivate = opusHead(channels)
		e.SeekPreRoll = uint64(80 * time.Millisecond)
	default:
		return e, fmt.Errorf("codec %s cannot be written to WebM", t.Codec)
	}
	return e, nil
}

// opusHead is the identification header Matroska carries as Opus CodecPrivate (RFC 7845 §5.1).
func opusHead(channels int) []byte {
	b := []byte("OpusHead\x01")
	b = append(b, byte(channels))
	b = binary.LittleEndian.AppendUint16(b, 0) // pre-skip: RTP Opus has already been trimmed
	b = binary.LittleEndian.AppendUint32(b, 48000)
	b = binary.LittleEndian.AppendUint16(b, 0) // output gain
	return append(b, 0)                        // channel mapping family 0
}

// av1CodecPrivate is the AV1CodecConfigurationRecord with the sequence header appended
// (AV1-ISOBMFF §2.3, as Matroska's AV1 mapping reuses it); a zero marker when unknown.
func av1CodecPrivate(seqHeader []byte) []byte {
	return append([]byte{0x81, 0, 0, 0}, seqHeader...)
}

func (ww *Writer) write(b []byte) error {
	n, err := ww.w.Write(b)
	ww.written += int64(n)
	if err != nil {
		return fmt.Errorf("write cluster: %w", err)
	}
	return nil
}

// WriteSample implements segment.Writer.
func (ww *Writer) WriteSample(s segment.Sample) error {
	if ww.closed {
		return segment.ErrClosed
	}
	if s.Track < 0 || s.Track >= ww.ntracks {
		return fmt.Errorf("sample for unknown track %d", s.Track)
	}
	if len(ww.blocks) > 0 && s.PTS-ww.clusterPTS >= ww.opts.FragmentDuration {
		if err := ww.flush(); err != nil {
			return err
		}
	}
	if len(ww.blocks) == 0 {
		ww.clusterPTS = s.PTS
	}
	ww.blocks = append(ww.blocks, block{track: s.Track, pts: s.PTS, key: s.Key, data: ww.arena.Copy(s.Data)})
	if s.PTS > ww.maxPTS {
		ww.maxPTS = s.PTS
	}
	return nil
}

// flush writes the buffered blocks as one Cluster, ordered by time across tracks.
func (ww *Writer) flush() error {
	if len(ww.blocks) == 0 {
		return nil
	}
	slices.SortStableFunc(ww.blocks, func(a, b block) int { return int(a.pts - b.pts) })
	base := max(ww.blocks[0].pts, 0)
	out := ww.cluster
	if out == nil {
		out = ww.opts.Buffers.Get()
		defer ww.opts.Buffers.Put(out)
	}
	// The index: the cluster's first keyframe of track 1 (every audio block is one).
	for _, bl := range ww.blocks {
		if bl.track == 0 && bl.key {
			ww.cues = append(ww.cues, CuePoint{Time: bl.pts, Cluster: ww.written - ww.segmentData})
			break
		}
	}
	b, err := appendCluster((*out)[:0], base, ww.blocks)
	ww.blocks = ww.blocks[:0]
	ww.arena.Reset()
	*out = b
	if err != nil {
		return err
	}
	return ww.write(b)
}

// Close implements segment.Writer: the last cluster, then the Duration patched in place.
func (ww *Writer) Close() error { return ww.CloseAt(0) }

// CloseAt implements segment.Writer. WebM blocks carry no duration: only the segment's Duration
// says where the file ends.
func (ww *Writer) CloseAt(end time.Duration) error {
	if ww.closed {
		return nil
	}
	ww.closed = true
	ww.end = max(end, ww.maxPTS+ww.lastDur)
	if err := ww.flush(); err != nil {
		return err
	}
	if ww.durationPos < 0 {
		return nil // the duration was known from the start: nothing to seek back to
	}
	// The index at the end, then the header's pointer to it and the duration patched in place:
	// a crash before this leaves a file without them, which the repair completes.
	cuesAt := ww.written - ww.segmentData
	if err := ww.write(AppendCues(nil, ww.cues)); err != nil {
		return err
	}
	if _, err := ww.w.Seek(ww.segmentData, io.SeekStart); err != nil {
		return fmt.Errorf("seek to the seek head: %w", err)
	}
	if _, err := ww.w.Write(SeekHead(cuesAt)); err != nil {
		return fmt.Errorf("write the seek head: %w", err)
	}
	return PatchDuration(ww.w, ww.durationPos, ww.end, ww.written)
}

// PatchDuration overwrites the Duration float at pos with d and seeks back to end.
func PatchDuration(w io.WriteSeeker, pos int64, d time.Duration, end int64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], math.Float64bits(float64(d)/float64(time.Millisecond)))
	if _, err := w.Seek(pos, io.SeekStart); err != nil {
		return fmt.Errorf("seek to duration: %w", err)
	}
	if _, err := w.Write(b[:]); err != nil {
		return fmt.Errorf("patch duration: %w", err)
	}
	if _, err := w.Seek(end, io.SeekStart); err != nil {
		return fmt.Errorf("seek to end: %w", err)
	}
	return nil
}

// Bytes implements segment.Writer.
func (ww *Writer) Bytes() int64 { return ww.written }

// Duration implements segment.Writer.
func (ww *Writer) Duration() time.Duration {
	if ww.closed {
		return ww.end
	}
	return ww.maxPTS
}
