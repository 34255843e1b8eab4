package playback

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	mcfmp4 "github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/segment"
)

// mp4Reader reads vigil's fragmented MP4 segments back: the init segment, then one fragment
// (moof + mdat, about a second of media) at a time, so memory stays at one fragment whatever
// the file's length. Fragments are parsed here (tfhd, tfdt, trun) rather than through a box
// library: an export of an hour reads a quarter of a million samples.
type mp4Reader struct {
	r      io.Reader
	tracks []segment.Track
	scales []uint32
	buf    []byte
	sampleQueue
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
		typ, box, err := m.box(nil)
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

func (m *mp4Reader) trackList() []segment.Track { return m.tracks }

// seekBefore is a no-op: vigil's MP4 segments carry no index; they are read from the start.
func (m *mp4Reader) seekBefore(time.Duration) error { return nil }

// header reads a box header: its type, whole size and header length.
func (m *mp4Reader) header() (string, uint64, int, []byte, error) {
	var h [16]byte
	if _, err := io.ReadFull(m.r, h[:8]); err != nil {
		return "", 0, 0, nil, err
	}
	size := uint64(binary.BigEndian.Uint32(h[:4]))
	typ := string(h[4:8])
	hl := 8
	if size == 1 {
		if _, err := io.ReadFull(m.r, h[8:16]); err != nil {
			return "", 0, 0, nil, err
		}
		size, hl = binary.BigEndian.Uint64(h[8:16]), 16
	}
	if size < uint64(hl) || size > maxBox {
		return "", 0, 0, nil, fmt.Errorf("box %q of %d bytes", typ, size)
	}
	return typ, size, hl, h[:hl], nil
}

// box reads the next top-level box whole, appended to dst.
func (m *mp4Reader) box(dst []byte) (string, []byte, error) {
	typ, size, hl, h, err := m.header()
	if err != nil {
		return "", nil, err
	}
	start := len(dst)
	dst = append(dst, h...)
	dst = slices.Grow(dst, int(size)-hl)[:start+int(size)]
	if _, err := io.ReadFull(m.r, dst[start+hl:]); err != nil {
		return "", nil, fmt.Errorf("box %q: %w", typ, err)
	}
	return typ, dst, nil
}

// skip passes over n bytes of the input.
func (m *mp4Reader) skip(n int64) error {
	if seeker, ok := m.r.(io.Seeker); ok {
		_, err := seeker.Seek(n, io.SeekCurrent)
		return err
	}
	_, err := io.CopyN(io.Discard, m.r, n)
	return err
}

// next returns the next sample in file order (fragment by fragment, track by track within one),
// or io.EOF. Its data is valid until the next call after the fragment's last sample.
func (m *mp4Reader) next() (sample, error) { return m.pop(m.fragment) }

// fragment reads the next moof and its mdat into the queue.
func (m *mp4Reader) fragment() error {
	m.reset()
	var typ string
	var err error
	for {
		m.buf = m.buf[:0]
		typ, m.buf, err = m.box(m.buf)
		if errors.Is(err, io.EOF) {
			m.done = true
			return nil
		}
		if err != nil {
			return err
		}
		if typ == "moof" {
			break
		}
	}
	moofLen := len(m.buf)
	typ, size, hl, h, err := m.header()
	if err != nil {
		return fmt.Errorf("mdat after moof: %w", err)
	}
	if typ != "mdat" {
		return fmt.Errorf("a moof followed by %q", typ)
	}
	payload := int(size) - hl
	m.buf = append(m.buf, h...)
	if m.sizesOnly {
		if err := m.skip(int64(payload)); err != nil {
			return fmt.Errorf("skip mdat: %w", err)
		}
		if len(m.zeros) < payload {
			m.zeros = make([]byte, payload)
		}
	} else {
		start := len(m.buf)
		m.buf = slices.Grow(m.buf, payload)[:start+payload]
		if _, err := io.ReadFull(m.r, m.buf[start:]); err != nil {
			return fmt.Errorf("mdat: %w", err)
		}
	}
	return m.parseMoof(m.buf[:moofLen], moofLen+hl, payload)
}

// tfhd flags and trun flags (ISO/IEC 14496-12 §8.8.7, §8.8.8).
const (
	tfhdBaseDataOffset  = 0x01
	tfhdSampleDescIndex = 0x02
	tfhdDefaultDuration = 0x08
	tfhdDefaultSize     = 0x10
	tfhdDefaultFlags    = 0x20
	tfhdBaseIsMoof      = 0x020000
	trunDataOffset      = 0x01
	trunFirstFlags      = 0x04
	trunDuration        = 0x100
	trunSize            = 0x200
	trunFlags           = 0x400
	trunCTO             = 0x800
	sampleNonSync       = 1 << 16
)

var errBadFragment = errors.New("malformed fragment")

// parseMoof queues the samples the moof describes; their payloads sit in m.buf from mdatAt on
// (payload bytes of media data), or are zeros of their size when sizesOnly.
func (m *mp4Reader) parseMoof(moof []byte, mdatAt, payload int) error {
	boxes := func(b []byte, fn func(typ string, body []byte) error) error {
		for len(b) >= 8 {
			size := int(binary.BigEndian.Uint32(b))
			if size < 8 || size > len(b) {
				return errBadFragment
			}
			if err := fn(string(b[4:8]), b[8:size]); err != nil {
				return err
			}
			b = b[size:]
		}
		return nil
	}
	return boxes(moof[8:], func(typ string, traf []byte) error {
		if typ != "traf" {
			return nil
		}
		var track int
		var base uint64
		var defDur, defSize, defFlags uint32
		return boxes(traf, func(typ string, b []byte) error {
			r := fieldReader{b: b}
			version, flags := r.u8(), r.u24()
			switch typ {
			case "tfhd":
				track = int(r.u32()) - 1
				if flags&tfhdBaseDataOffset != 0 {
					return fmt.Errorf("%w: an absolute base data offset", errBadFragment)
				}
				if flags&tfhdSampleDescIndex != 0 {
					r.u32()
				}
				if flags&tfhdDefaultDuration != 0 {
					defDur = r.u32()
				}
				if flags&tfhdDefaultSize != 0 {
					defSize = r.u32()
				}
				if flags&tfhdDefaultFlags != 0 {
					defFlags = r.u32()
				}
			case "tfdt":
				if version == 1 {
					base = r.u64()
				} else {
					base = uint64(r.u32())
				}
			case "trun":
				if track < 0 || track >= len(m.tracks) {
					return fmt.Errorf("fragment of unknown track %d", track+1)
				}
				n := int(r.u32())
				offset := 0
				if flags&trunDataOffset != 0 {
					offset = int(int32(r.u32())) - mdatAt // from the moof's start to the payload's
				}
				first := defFlags
				if flags&trunFirstFlags != 0 {
					first = r.u32()
				}
				ticks := base
				for i := range n {
					dur, size, sflags, cto := defDur, defSize, defFlags, int32(0)
					if i == 0 {
						sflags = first
					}
					if flags&trunDuration != 0 {
						dur = r.u32()
					}
					if flags&trunSize != 0 {
						size = r.u32()
					}
					if flags&trunFlags != 0 {
						sflags = r.u32()
					}
					if flags&trunCTO != 0 {
						cto = int32(r.u32())
					}
					if r.err || offset < 0 || offset+int(size) > payload {
						return errBadFragment
					}
					var data []byte
					if m.sizesOnly {
						data = m.zeros[:size]
					} else {
						data = m.buf[mdatAt+offset : mdatAt+offset+int(size)]
					}
					m.samples = append(m.samples, sample{track: track, key: sflags&sampleNonSync == 0, data: data,
						pts: ticksToDuration(int64(ticks)+int64(cto), int64(m.scales[track]))})
					ticks += uint64(dur)
					offset += int(size)
				}
				base = ticks
			}
			if r.err {
				return fmt.Errorf("%w: a short %s", errBadFragment, typ)
			}
			return nil
		})
	})
}

// ticksToDuration converts without overflow for any length of file.
func ticksToDuration(ticks, scale int64) time.Duration {
	return time.Duration(ticks/scale)*time.Second + time.Duration(ticks%scale)*time.Second/time.Duration(scale)
}

// fieldReader reads big-endian fields, remembering whether it ran out.
type fieldReader struct {
	b   []byte
	err bool
}

func (r *fieldReader) take(n int) []byte {
	if len(r.b) < n {
		r.err = true
		return make([]byte, n)
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}
func (r *fieldReader) u8() uint8 { return r.take(1)[0] }
func (r *fieldReader) u24() uint32 {
	b := r.take(3)
	return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2])
}
func (r *fieldReader) u32() uint32 { return binary.BigEndian.Uint32(r.take(4)) }
func (r *fieldReader) u64() uint64 { return binary.BigEndian.Uint64(r.take(8)) }

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
