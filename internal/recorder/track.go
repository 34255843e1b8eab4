package recorder

import (
	"bytes"
	"encoding/binary"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/media"
)

// accessUnit is one depacketized frame of a track with its wall-clock capture time.
type accessUnit struct {
	track int
	codec media.Codec
	wall  time.Time // capture time on the recording's clock (see timeline)
	rtp64 int64     // unwrapped RTP timestamp
	key   bool
	data  []byte
}

// trackReader turns one track's RTP into access units: it reorders and reassembles packets with
// pion's sample builder (which drops frames it cannot complete) and unwraps RTP timestamps.
type trackReader struct {
	index int
	info  hub.TrackInfo
	sb    *samplebuilder.SampleBuilder
	// ssrc is the source of the track's packets; a new one starts the reader over (source.go).
	ssrc    uint32
	hasSSRC bool

	arrivals    [64]arrival // arrival time of recent RTP timestamps
	emitted     bool
	lastEmitted uint32
	unwrapped   bool
	lastRTP     uint32
	rtp64       int64
	lastArrival time.Time
	// held is an H.265 access unit whose last packet lacked the marker bit: the sample builder
	// ends a sample at the last fragment of every fragmented NAL unit, so more of it may follow.
	held *accessUnit
}

type arrival struct {
	ts uint32
	at time.Time
}

func newTrackReader(index int, info hub.TrackInfo) *trackReader {
	var d rtp.Depacketizer
	var opts []samplebuilder.Option
	switch info.Codec {
	case media.H264:
		d = &codecs.H264Packet{IsAVC: true}
	case media.H265:
		d = &codecs.H265Depacketizer{}
		opts = append(opts, samplebuilder.WithRTPHeaders(true)) // for the marker bit, see held
	case media.VP8:
		d = &codecs.VP8Packet{}
	case media.VP9:
		d = &codecs.VP9Packet{}
	case media.AV1:
		d = &codecs.AV1Depacketizer{}
	default:
		d = &codecs.OpusPacket{}
	}
	// Up to 512 packets (about 1.5 s of a 2.5 Mbps stream) wait for a retransmission before a
	// frame is given up.
	return &trackReader{index: index, info: info, sb: samplebuilder.New(512, d, info.ClockRate, opts...)}
}

// push adds a packet and returns the access units it completed.
func (t *trackReader) push(p *media.Packet, out []accessUnit) []accessUnit {
	slot := &t.arrivals[int(p.RTP.Timestamp)%len(t.arrivals)]
	if slot.ts != p.RTP.Timestamp || slot.at.IsZero() {
		*slot = arrival{ts: p.RTP.Timestamp, at: p.Arrival}
	}
	t.lastArrival = p.Arrival
	t.sb.Push(p.RTP)
	return t.pop(out)
}

func (t *trackReader) pop(out []accessUnit) []accessUnit {
	for s := t.sb.Pop(); s != nil; s = t.sb.Pop() {
		if len(s.Data) == 0 {
			continue
		}
		if t.info.Codec == media.H265 {
			s.Data = annexBToAVCC(s.Data)
		}
		if t.emitted && s.PacketTimestamp == t.lastEmitted {
			// The sample builder split one access unit (a partition head inside it): the rest
			// of a frame whose start was already emitted. H.264/H.265 NAL units join the
			// previous unit when it is still here; otherwise the fragment is dropped.
			prev := t.held
			if n := len(out); prev == nil && n > 0 && (t.info.Codec == media.H264 || t.info.Codec == media.H265) {
				prev = &out[n-1]
			}
			if prev != nil {
				prev.data = append(prev.data, s.Data...)
				prev.key = prev.key || isKeyAU(t.info.Codec, s.Data)
			}
			if t.held != nil && endsAccessUnit(s) {
				out, t.held = append(out, *t.held), nil
			}
			continue
		}
		if t.held != nil {
			out, t.held = append(out, *t.held), nil
		}
		t.emitted, t.lastEmitted = true, s.PacketTimestamp
		au := accessUnit{track: t.index, codec: t.info.Codec, rtp64: t.unwrap(s.PacketTimestamp), data: s.Data}
		au.wall = t.arrivalOf(s.PacketTimestamp)
		au.key = isKeyAU(t.info.Codec, s.Data)
		if t.info.Codec == media.H265 && !endsAccessUnit(s) {
			t.held = &au
			continue
		}
		out = append(out, au)
	}
	return out
}

// endsAccessUnit reports whether the last packet of a sample carried the marker bit (always true
// when the sample builder does not return RTP headers).
func endsAccessUnit(s *pionmedia.Sample) bool {
	n := len(s.RTPHeaders)
	return n == 0 || s.RTPHeaders[n-1].Marker
}

func (t *trackReader) arrivalOf(ts uint32) time.Time {
	if a := t.arrivals[int(ts)%len(t.arrivals)]; a.ts == ts && !a.at.IsZero() {
		return a.at
	}
	return t.lastArrival
}

// unwrap extends a 32-bit RTP timestamp to 64 bits across wraps (and small reorders).
func (t *trackReader) unwrap(ts uint32) int64 {
	if !t.unwrapped {
		t.unwrapped, t.lastRTP, t.rtp64 = true, ts, int64(ts)
		return t.rtp64
	}
	t.rtp64 += int64(int32(ts - t.lastRTP))
	t.lastRTP = ts
	return t.rtp64
}

// isKeyAU tells a key frame from its access unit (AVCC for H.264/H.265, frames for the others).
func isKeyAU(c media.Codec, au []byte) bool {
	switch c {
	case media.H264, media.H265:
		for _, nal := range avccUnits(au) {
			if len(nal) == 0 {
				continue
			}
			if c == media.H264 && nal[0]&0x1f == 5 {
				return true
			}
			if c == media.H265 {
				if typ := (nal[0] >> 1) & 0x3f; typ >= 16 && typ <= 21 {
					return true
				}
			}
		}
		return false
	case media.VP8:
		return au[0]&0x01 == 0
	case media.VP9:
		return vp9Key(au)
	case media.AV1:
		return av1HasSequenceHeader(au)
	}
	return true
}

// annexBToAVCC rewrites, in place, the Annex B access unit pion's H.265 depacketizer returns
// (every NAL unit behind a 00 00 00 01 start code) as 4-byte length-prefixed NAL units, the form
// key frame detection, the codec configuration and MP4 take. Anything else is returned as is.
func annexBToAVCC(b []byte) []byte {
	startCode := []byte{0, 0, 0, 1}
	if !bytes.HasPrefix(b, startCode) {
		return b
	}
	for i := 0; i < len(b); {
		n := bytes.Index(b[i+4:], startCode)
		if n < 0 {
			n = len(b) - i - 4
		}
		binary.BigEndian.PutUint32(b[i:], uint32(n))
		i += 4 + n
	}
	return b
}

// avccUnits splits 4-byte length-prefixed NAL units.
func avccUnits(b []byte) [][]byte {
	var out [][]byte
	for len(b) >= 4 {
		n := int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3])
		b = b[4:]
		if n < 0 || n > len(b) {
			return out
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// vp9Key reads frame_type from the uncompressed header (VP9 bitstream §6.2).
func vp9Key(f []byte) bool {
	if len(f) == 0 || f[0]>>6 != 2 {
		return false
	}
	profile := (f[0]>>5)&1 | (f[0]>>4)&2
	shift := uint(3)
	if profile == 3 {
		shift = 2
	}
	showExisting := (f[0]>>shift)&1 == 1
	frameType := (f[0] >> (shift - 1)) & 1
	return !showExisting && frameType == 0
}

// av1HasSequenceHeader reports whether a temporal unit (OBUs with size fields) starts a coded
// video sequence, which is what a key frame a decoder can start from looks like in WebRTC.
func av1HasSequenceHeader(tu []byte) bool {
	for len(tu) > 0 {
		h := tu[0]
		typ := (h >> 3) & 0x0f
		if typ == 1 {
			return true
		}
		i := 1
		if h&0x04 != 0 {
			i++
		}
		if h&0x02 == 0 || i >= len(tu) {
			return false
		}
		size, n := leb128(tu[i:])
		if n == 0 || i+n+size > len(tu) {
			return false
		}
		tu = tu[i+n+size:]
	}
	return false
}

func leb128(b []byte) (int, int) {
	v := 0
	for i := 0; i < len(b) && i < 8; i++ {
		v |= int(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, 0
}
