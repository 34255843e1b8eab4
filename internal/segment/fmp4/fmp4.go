// Package fmp4 writes fragmented MP4 (ISO/IEC 14496-12, with Opus per the Opus-in-ISOBMFF
// mapping) for H.264, H.265, AV1, VP9 and Opus, using mediacommon for the boxes. The init segment
// is written at creation and each fragment (moof+mdat, about one second) with one write, so the
// file is playable after any crash; closing only writes the last fragment.
package fmp4

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	mcfmp4 "github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/segment"
)

var _ segment.Writer = (*Writer)(nil)

// Writer is a fragmented MP4 segment writer. It copies every sample into buffers of its own,
// reused from one fragment to the next, so recording allocates nothing in the steady state.
type Writer struct {
	w       io.WriteSeeker
	opts    segment.Options
	tracks  []*track
	seq     uint32
	written int64
	closed  bool
	fragPTS time.Duration // PTS of the first sample of the fragment being built
	hasFrag bool
	maxPTS  time.Duration
	end     time.Duration   // where the file ends once closed (see CloseAt); 0 while open
	out     *[]byte         // the fragment being written, reused; nil: borrowed from opts.Buffers
	frag    []fragmentTrack // the fragment's tracks, reused
	// head and bufs, reused, hold a fragment's moof and mdat header and the list of what a
	// segment.BuffersWriter writes: the head, then the samples' pieces.
	head []byte
	bufs [][]byte
}

// track holds the samples of the fragment being built. The last one is held back: its duration
// is known only when the next sample arrives, so it opens the next fragment unless the file ends.
type track struct {
	timescale uint32
	frag      fragmentTrack // samples and time; data and size are filled at flush from store
	store     sampleData
	pieces    [][]byte // store's pieces for the fragment being written, reused
	held      bool
	heldTicks uint64
	lastDur   uint32
	started   bool
}

// New writes the init segment for tracks to w and returns a writer for the fragments.
func New(w io.WriteSeeker, tracks []segment.Track, opts segment.Options) (*Writer, error) {
	init := mcfmp4.Init{}
	fw := &Writer{w: w, opts: opts.WithDefaults()}
	chunks := fw.opts.Buffers
	if fw.opts.Buffers == nil {
		fw.out = new([]byte)
		chunks = &segment.BufferPool{} // the writer's own: chunks are still reused
	}
	for i, t := range tracks {
		c, err := codecOf(t)
		if err != nil {
			return nil, err
		}
		init.Tracks = append(init.Tracks, &mcfmp4.InitTrack{ID: i + 1, TimeScale: t.ClockRate, Codec: c})
		fw.tracks = append(fw.tracks, &track{timescale: t.ClockRate, lastDur: defaultDuration(t),
			frag: fragmentTrack{id: uint32(i + 1)}, store: sampleData{pool: chunks}})
	}
	var buf seekablebuffer.Buffer
	if err := init.Marshal(&buf); err != nil {
		return nil, fmt.Errorf("marshal init segment: %w", err)
	}
	head := buf.Bytes()
	if opts.Duration > 0 {
		var err error
		if head, err = withDuration(head, opts.Duration); err != nil {
			return nil, err
		}
	}
	if !opts.Start.IsZero() {
		if err := withStart(head, opts.Start); err != nil {
			return nil, err
		}
	}
	if err := fw.write(head); err != nil {
		return nil, err
	}
	return fw, nil
}

func defaultDuration(t segment.Track) uint32 {
	if t.Kind == media.KindAudio {
		return t.ClockRate / 50 // 20 ms
	}
	return t.ClockRate / 30
}

func codecOf(t segment.Track) (codecs.Codec, error) {
	switch t.Codec {
	case media.H264:
		if len(t.SPS) == 0 || len(t.PPS) == 0 {
			return nil, errors.New("h264 track needs SPS and PPS")
		}
		return &codecs.H264{SPS: t.SPS, PPS: t.PPS}, nil
	case media.H265:
		if len(t.VPS) == 0 || len(t.SPS) == 0 || len(t.PPS) == 0 {
			return nil, errors.New("h265 track needs VPS, SPS and PPS")
		}
		return &codecs.H265{VPS: t.VPS, SPS: t.SPS, PPS: t.PPS}, nil
	case media.AV1:
		if len(t.SequenceHeader) == 0 {
			return nil, errors.New("av1 track needs a sequence header")
		}
		return &codecs.AV1{SequenceHeader: t.SequenceHeader}, nil
	case media.VP9:
		return &codecs.VP9{Width: t.Width, Height: t.Height, Profile: t.VP9Profile,
			BitDepth: max(t.VP9BitDepth, 8), ChromaSubsampling: t.VP9Chroma}, nil
	case media.Opus:
		return &codecs.Opus{ChannelCount: max(t.Channels, 1)}, nil
	}
	return nil, fmt.Errorf("codec %s cannot be written to MP4", t.Codec)
}

func (fw *Writer) write(b []byte) error {
	n, err := fw.w.Write(b)
	fw.written += int64(n)
	if err != nil {
		return fmt.Errorf("write fragment: %w", err)
	}
	return nil
}

// writeBuffers writes the fragment in fw.frag as its head (moof and mdat header) followed by the
// samples' pieces where they lie, with one vectored write.
func (fw *Writer) writeBuffers(bw segment.BuffersWriter) error {
	fw.head = appendFragmentHead(fw.head[:0], fw.seq, fw.frag)
	fw.bufs = append(fw.bufs[:0], fw.head)
	for _, f := range fw.frag {
		fw.bufs = append(fw.bufs, f.data...)
	}
	n, err := bw.WriteBuffers(fw.bufs)
	clear(fw.bufs) // the pieces go back to the pool with their chunks
	fw.written += n
	if err != nil {
		return fmt.Errorf("write fragment: %w", err)
	}
	return nil
}

// WriteSample implements segment.Writer.
func (fw *Writer) WriteSample(s segment.Sample) error {
	if fw.closed {
		return segment.ErrClosed
	}
	if s.Track < 0 || s.Track >= len(fw.tracks) {
		return fmt.Errorf("sample for unknown track %d", s.Track)
	}
	if fw.hasFrag && s.PTS-fw.fragPTS >= fw.opts.FragmentDuration {
		if err := fw.flush(false); err != nil {
			return err
		}
	}
	if !fw.hasFrag {
		fw.fragPTS, fw.hasFrag = s.PTS, true
	}
	t := fw.tracks[s.Track]
	ticks := fw.ticks(t, s.PTS)
	if t.held {
		d := uint32(0)
		if ticks > t.heldTicks {
			d = uint32(ticks - t.heldTicks)
		}
		t.frag.samples[len(t.frag.samples)-1].duration = d
		t.lastDur = max(d, 1)
	} else if !t.started {
		t.frag.baseTime, t.started = ticks, true
	}
	t.frag.samples = append(t.frag.samples, sampleMeta{size: uint32(len(s.Data)), nonSync: !s.Key})
	t.store.append(s.Data)
	t.held, t.heldTicks = true, ticks
	fw.maxPTS = max(fw.maxPTS, s.PTS)
	return nil
}

// flush writes one fragment with every track's complete samples; final also writes the held ones.
func (fw *Writer) flush(final bool) error {
	fw.frag = fw.frag[:0]
	for _, t := range fw.tracks {
		f := t.frag
		f.size = t.store.n
		if !final && t.held {
			last := f.samples[len(f.samples)-1]
			f.samples = f.samples[:len(f.samples)-1]
			f.size -= int(last.size)
		} else if t.held {
			d := t.lastDur
			if endTicks := fw.ticks(t, fw.end); endTicks > t.heldTicks {
				d = uint32(min(endTicks-t.heldTicks, math.MaxUint32))
			}
			f.samples[len(f.samples)-1].duration = d
			fw.end = max(fw.end, ticksToDuration(t.heldTicks+uint64(d), t.timescale))
		}
		if len(f.samples) > 0 {
			t.pieces = t.store.pieces(t.pieces[:0], f.size)
			f.data = t.pieces
			fw.frag = append(fw.frag, f)
		}
	}
	fw.hasFrag = false
	if len(fw.frag) == 0 {
		return nil
	}
	fw.seq++
	var err error
	if bw, ok := fw.w.(segment.BuffersWriter); ok {
		err = fw.writeBuffers(bw)
	} else {
		out := fw.out
		if out == nil {
			out = fw.opts.Buffers.Get()
			defer fw.opts.Buffers.Put(out)
		}
		*out = appendFragment((*out)[:0], fw.seq, fw.frag)
		err = fw.write(*out)
	}
	for _, t := range fw.tracks {
		clear(t.pieces) // the chunks go back to the pool: no reference may outlive that
		t.pieces = t.pieces[:0]
		t.keepHeld(final)
	}
	return err
}

// keepHeld starts the track's next fragment with its held sample (none after the last fragment).
func (t *track) keepHeld(final bool) {
	var held sampleMeta
	keep := t.held && !final && len(t.frag.samples) > 0
	if keep {
		held = t.frag.samples[len(t.frag.samples)-1]
	}
	for _, s := range t.frag.samples[:len(t.frag.samples)-btoi(keep)] {
		t.frag.baseTime += uint64(s.duration)
	}
	if keep {
		t.store.keepTail(int(held.size))
		t.frag.samples = append(t.frag.samples[:0], held)
		return
	}
	t.store.keepTail(0)
	t.frag.samples = t.frag.samples[:0]
	t.held = t.held && !final
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func ticksToDuration(ticks uint64, timescale uint32) time.Duration {
	ts := uint64(timescale)
	return time.Duration(ticks/ts)*time.Second + time.Duration(ticks%ts)*time.Second/time.Duration(ts)
}

func (fw *Writer) ticks(t *track, pts time.Duration) uint64 {
	if pts < 0 {
		return 0
	}
	return uint64(pts.Nanoseconds()) * uint64(t.timescale) / uint64(time.Second)
}

// Close implements segment.Writer.
func (fw *Writer) Close() error { return fw.CloseAt(0) }

// CloseAt implements segment.Writer.
func (fw *Writer) CloseAt(end time.Duration) error {
	if fw.closed {
		return nil
	}
	fw.closed = true
	fw.end = end
	return fw.flush(true)
}

// Bytes implements segment.Writer.
func (fw *Writer) Bytes() int64 { return fw.written }

// Duration implements segment.Writer.
func (fw *Writer) Duration() time.Duration {
	if fw.closed {
		return max(fw.end, fw.maxPTS)
	}
	return fw.maxPTS
}
