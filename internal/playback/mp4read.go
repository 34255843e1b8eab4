package playback

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	mcfmp4 "github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/segment"
)

// sample is one access unit read back from a segment, timed from the segment's start.
type sample struct {
	track int
	pts   time.Duration
	key   bool
	data  []byte
}

// mp4Reader reads vigil's fragmented MP4 segments back: the init segment, then one fragment
// (moof + mdat, about a second of media) at a time, so memory stays at one fragment whatever
// the file's length.
type mp4Reader struct {
	r      io.Reader
	tracks []segment.Track
	scales []uint32
	buf    []byte
	queue  []sample
	done   bool
	// sizesOnly skips the media data (seeking over it) and gives samples of zeros of their
	// size: enough to lay out an export without reading what it would copy.
	sizesOnly bool
	zeros     []byte
}

const maxBox = 256 << 20 // a fragment of vigil's is about a second of media

func newMP4Reader(r io.Reader) (*mp4Reader, error) {
	m := &mp4Reader{r: r}
	var head []byte
	for {
		typ, box, err := m.box()
		if err != nil {
			return nil, fmt.Errorf("read init segment: %w", err)
		}
		head = append(head, box...)
		if typ == "moov" {
			break
		}
	}
	var init mcfmp4.Init
	if err := init.Unmarshal(bytes.NewReader(head)); err != nil {
		return nil, fmt.Errorf("parse init segment: %w", err)
	}
	for _, it := range init.Tracks {
		t, err := trackOf(it)
		if err != nil {
			return nil, err
		}
		m.tracks = append(m.tracks, t)
		m.scales = append(m.scales, it.TimeScale)
	}
	return m, nil
}

// skipMdat seeks over the mdat that follows a moof, and puts in its place one of zeros.
func (m *mp4Reader) skipMdat() error {
	seeker, ok := m.r.(io.Seeker)
	if !ok {
		return errors.New("measuring an export needs seekable segments")
	}
	var h [8]byte
	if _, err := io.ReadFull(m.r, h[:]); err != nil {
		return fmt.Errorf("mdat: %w", err)
	}
	size := int64(binary.BigEndian.Uint32(h[:4]))
	if string(h[4:8]) != "mdat" || size < 8 || size > maxBox {
		return fmt.Errorf("a moof followed by %q of %d bytes", h[4:8], size)
	}
	if _, err := seeker.Seek(size-8, io.SeekCurrent); err != nil {
		return fmt.Errorf("skip mdat: %w", err)
	}
	if int64(len(m.zeros)) < size-8 {
		m.zeros = make([]byte, size-8)
	}
	m.buf = append(m.buf, h[:]...)
	m.buf = append(m.buf, m.zeros[:size-8]...)
	return nil
}

// box reads the next top-level box whole.
func (m *mp4Reader) box() (string, []byte, error) {
	var h [16]byte
	if _, err := io.ReadFull(m.r, h[:8]); err != nil {
		return "", nil, err
	}
	size := uint64(binary.BigEndian.Uint32(h[:4]))
	typ := string(h[4:8])
	hl := 8
	if size == 1 {
		if _, err := io.ReadFull(m.r, h[8:16]); err != nil {
			return "", nil, err
		}
		size, hl = binary.BigEndian.Uint64(h[8:16]), 16
	}
	if size < uint64(hl) || size > maxBox {
		return "", nil, fmt.Errorf("box %q of %d bytes", typ, size)
	}
	b := make([]byte, size)
	copy(b, h[:hl])
	if _, err := io.ReadFull(m.r, b[hl:]); err != nil {
		return "", nil, fmt.Errorf("box %q: %w", typ, err)
	}
	return typ, b, nil
}

// next returns the next sample in file order (fragment by fragment, track by track within one),
// or io.EOF.
func (m *mp4Reader) next() (sample, error) {
	for len(m.queue) == 0 {
		if m.done {
			return sample{}, io.EOF
		}
		if err := m.fragment(); err != nil {
			return sample{}, err
		}
	}
	s := m.queue[0]
	m.queue = m.queue[1:]
	return s, nil
}

func (m *mp4Reader) fragment() error {
	m.buf = m.buf[:0]
	for {
		typ, box, err := m.box()
		if errors.Is(err, io.EOF) {
			m.done = true
			return nil
		}
		if err != nil {
			return err
		}
		if typ != "moof" && len(m.buf) == 0 {
			continue // styp, sidx, free…
		}
		m.buf = append(m.buf, box...)
		if typ == "moof" && m.sizesOnly {
			if err := m.skipMdat(); err != nil {
				return err
			}
			break
		}
		if typ == "mdat" {
			break
		}
	}
	var parts mcfmp4.Parts
	if err := parts.Unmarshal(m.buf); err != nil {
		return fmt.Errorf("parse fragment: %w", err)
	}
	for _, p := range parts {
		for _, pt := range p.Tracks {
			i := pt.ID - 1
			if i < 0 || i >= len(m.tracks) {
				return fmt.Errorf("fragment of unknown track %d", pt.ID)
			}
			ticks := pt.BaseTime
			for _, s := range pt.Samples {
				pts := int64(ticks) + int64(s.PTSOffset)
				m.queue = append(m.queue, sample{track: i, key: !s.IsNonSyncSample, data: s.Payload,
					pts: time.Duration(pts) * time.Second / time.Duration(m.scales[i])})
				ticks += uint64(s.Duration)
			}
		}
	}
	return nil
}

// trackOf turns a track of an init segment back into what the segment writers take.
func trackOf(it *mcfmp4.InitTrack) (segment.Track, error) {
	t := segment.Track{Kind: media.KindVideo, ClockRate: it.TimeScale}
	switch c := it.Codec.(type) {
	case *codecs.H264:
		t.Codec, t.SPS, t.PPS = media.H264, c.SPS, c.PPS
	case *codecs.H265:
		t.Codec, t.VPS, t.SPS, t.PPS = media.H265, c.VPS, c.SPS, c.PPS
	case *codecs.AV1:
		t.Codec, t.SequenceHeader = media.AV1, c.SequenceHeader
	case *codecs.VP9:
		t.Codec, t.Width, t.Height = media.VP9, c.Width, c.Height
		t.VP9Profile, t.VP9BitDepth, t.VP9Chroma = c.Profile, c.BitDepth, c.ChromaSubsampling
	case *codecs.Opus:
		t.Kind, t.Codec, t.Channels = media.KindAudio, media.Opus, c.ChannelCount
	default:
		return t, fmt.Errorf("%w: a %T track", ErrFormat, it.Codec)
	}
	return t, nil
}
