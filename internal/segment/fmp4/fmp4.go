// Package fmp4 writes fragmented MP4 (ISO/IEC 14496-12, with Opus per the Opus-in-ISOBMFF
// mapping) for H.264, H.265, AV1, VP9 and Opus, using mediacommon for the boxes. The init segment
// is written at creation and each fragment (moof+mdat, about one second) with one write, so the
// file is playable after any crash; closing only writes the last fragment.
package fmp4

import (
	"errors"
	"fmt"
	"io"
	"time"

	mcfmp4 "github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/segment"
)

var _ segment.Writer = (*Writer)(nil)

// Writer is a fragmented MP4 segment writer.
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
	// arena holds the payloads of the fragment being built; spare, those of the one before,
	// reused at the next fragment (held samples move across).
	arena, spare segment.Arena
	frag         []byte              // the fragment being written, reused
	parts        []*mcfmp4.PartTrack // its tracks, reused
}

type track struct {
	timescale uint32
	samples   []*mcfmp4.Sample
	baseTime  uint64
	held      *mcfmp4.Sample // the newest sample: its duration is known when the next arrives
	heldTicks uint64
	lastDur   uint32
	started   bool
	free      []*mcfmp4.Sample // written samples, reused
	part      mcfmp4.PartTrack // the track's part of the fragment being written
}

func (t *track) newSample() *mcfmp4.Sample {
	if n := len(t.free); n > 0 {
		s := t.free[n-1]
		t.free = t.free[:n-1]
		return s
	}
	return &mcfmp4.Sample{}
}

// New writes the init segment for tracks to w and returns a writer for the fragments.
func New(w io.WriteSeeker, tracks []segment.Track, opts segment.Options) (*Writer, error) {
	init := mcfmp4.Init{}
	fw := &Writer{w: w, opts: opts.WithDefaults()}
	for i, t := range tracks {
		c, err := codecOf(t)
		if err != nil {
			return nil, err
		}
		init.Tracks = append(init.Tracks, &mcfmp4.InitTrack{ID: i + 1, TimeScale: t.ClockRate, Codec: c})
		fw.tracks = append(fw.tracks, &track{timescale: t.ClockRate, lastDur: defaultDuration(t)})
	}
	var buf seekablebuffer.Buffer
	if err := init.Marshal(&buf); err != nil {
		return nil, fmt.Errorf("marshal init segment: %w", err)
	}
	if err := fw.write(buf.Bytes()); err != nil {
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
	ticks := uint64(s.PTS.Nanoseconds()) * uint64(t.timescale) / uint64(time.Second)
	if s.PTS < 0 {
		ticks = 0
	}
	if t.held != nil {
		d := uint32(0)
		if ticks > t.heldTicks {
			d = uint32(ticks - t.heldTicks)
		}
		t.held.Duration = d
		t.lastDur = max(d, 1)
		t.samples = append(t.samples, t.held)
	} else if !t.started {
		t.baseTime, t.started = ticks, true
	}
	t.held = t.newSample()
	*t.held = mcfmp4.Sample{IsNonSyncSample: !s.Key, Payload: fw.arena.Copy(s.Data)}
	t.heldTicks = ticks
	fw.maxPTS = max(fw.maxPTS, s.PTS)
	return nil
}

// flush writes one fragment with every track's complete samples; final also writes the held ones.
func (fw *Writer) flush(final bool) error {
	parts := fw.parts[:0]
	for i, t := range fw.tracks {
		if final && t.held != nil {
			t.held.Duration = t.lastDur
			t.samples = append(t.samples, t.held)
			t.held = nil
		}
		if len(t.samples) == 0 {
			continue
		}
		t.part = mcfmp4.PartTrack{ID: i + 1, BaseTime: t.baseTime, Samples: t.samples}
		parts = append(parts, &t.part)
		for _, s := range t.samples {
			t.baseTime += uint64(s.Duration)
		}
	}
	fw.parts = parts
	fw.hasFrag = false
	if len(parts) == 0 {
		return nil
	}
	fw.seq++
	fw.frag = appendFragment(fw.frag[:0], fw.seq, parts)
	fw.recycle()
	return fw.write(fw.frag)
}

// recycle takes back the samples and payload copies of a marshalled fragment; the held samples'
// payloads move to the other arena.
func (fw *Writer) recycle() {
	fw.spare.Reset()
	for _, t := range fw.tracks {
		for _, s := range t.samples {
			*s = mcfmp4.Sample{}
			t.free = append(t.free, s)
		}
		t.samples = t.samples[:0]
		if t.held != nil {
			t.held.Payload = fw.spare.Copy(t.held.Payload)
		}
	}
	fw.arena, fw.spare = fw.spare, fw.arena
}

// Close implements segment.Writer.
func (fw *Writer) Close() error {
	if fw.closed {
		return nil
	}
	fw.closed = true
	return fw.flush(true)
}

// Bytes implements segment.Writer.
func (fw *Writer) Bytes() int64 { return fw.written }

// Duration implements segment.Writer.
func (fw *Writer) Duration() time.Duration { return fw.maxPTS }
