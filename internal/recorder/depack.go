package recorder

import (
	"encoding/binary"

	"github.com/pion/rtp/codecs"

	"github.com/vigilrec/vigil/internal/media"
)

// assembler depacketizes one track's packets, handed to it in sequence order, into one access
// unit at a time, straight into a buffer it reuses: H.264 (RFC 6184) and H.265 (RFC 7798) as
// 4-byte length-prefixed NAL units, VP8 (RFC 7741) and VP9 (RFC 9628) frames, AV1 temporal units
// of OBUs with size fields (AV1 RTP specification §4, through pion's depacketizer), Opus packets.
// A packet it cannot parse breaks the access unit, which is then dropped, never written.
type assembler struct {
	codec  media.Codec
	buf    []byte
	ts     uint32
	active bool // packets of ts were added
	broken bool
	// frag is the offset of the length prefix of the H.264/H.265 NAL unit being reassembled from
	// fragmentation units; -1 when none is open.
	frag int
	av1  codecs.AV1Depacketizer
	// recovered: a retransmission filled a hole in this access unit.
	recovered bool
}

func newAssembler(c media.Codec) assembler { return assembler{codec: c, frag: -1} }

// begin starts the access unit of timestamp ts.
func (a *assembler) begin(ts uint32) {
	a.buf, a.ts, a.active, a.broken, a.frag, a.recovered = a.buf[:0], ts, true, false, -1, false
	if a.codec == media.AV1 {
		a.av1 = codecs.AV1Depacketizer{}
	}
}

// end closes the access unit; ok reports whether it is whole.
func (a *assembler) end() (data []byte, ok bool) {
	a.active = false
	return a.buf, !a.broken && a.frag < 0 && len(a.buf) > 0
}

// add appends one packet's payload.
func (a *assembler) add(p []byte) {
	if a.broken {
		return
	}
	var ok bool
	switch a.codec {
	case media.H264:
		ok = a.addH264(p)
	case media.H265:
		ok = a.addH265(p)
	case media.VP8:
		ok = a.addVP8(p)
	case media.VP9:
		ok = a.addVP9(p)
	case media.AV1:
		ok = a.addAV1(p)
	default:
		a.buf, ok = append(a.buf, p...), true
	}
	a.broken = !ok
}

func (a *assembler) addNAL(nal []byte) {
	a.buf = binary.BigEndian.AppendUint32(a.buf, uint32(len(nal)))
	a.buf = append(a.buf, nal...)
}

// addAggregated appends the 16-bit length-prefixed NAL units of a STAP-A or an H.265 AP.
func (a *assembler) addAggregated(p []byte) bool {
	for len(p) > 0 {
		if len(p) < 2 {
			return false
		}
		n := int(p[0])<<8 | int(p[1])
		p = p[2:]
		if n > len(p) {
			return false
		}
		if n > 0 {
			a.addNAL(p[:n])
		}
		p = p[n:]
	}
	return true
}

// addFragment appends one fragmentation unit: header is the reconstructed NAL unit header,
// written at the start.
func (a *assembler) addFragment(start, end bool, header []byte, data []byte) bool {
	if start {
		if a.frag >= 0 {
			return false
		}
		a.frag = len(a.buf)
		a.buf = append(a.buf, 0, 0, 0, 0)
		a.buf = append(a.buf, header...)
	} else if a.frag < 0 {
		return false
	}
	a.buf = append(a.buf, data...)
	if end {
		binary.BigEndian.PutUint32(a.buf[a.frag:], uint32(len(a.buf)-a.frag-4))
		a.frag = -1
	}
	return true
}

func (a *assembler) addH264(p []byte) bool {
	if len(p) == 0 {
		return false
	}
	switch typ := p[0] & 0x1f; {
	case typ >= 1 && typ <= 23:
		a.addNAL(p)
		return true
	case typ == 24: // STAP-A
		return a.addAggregated(p[1:])
	case typ == 28: // FU-A
		if len(p) < 2 {
			return false
		}
		return a.addFragment(p[1]&0x80 != 0, p[1]&0x40 != 0, []byte{p[0]&0xe0 | p[1]&0x1f}, p[2:])
	case typ == 0 || typ >= 30: // reserved: ignored (RFC 6184 §5.2)
		return true
	}
	return false // STAP-B, MTAP, FU-B: interleaved mode, not offered
}

func (a *assembler) addH265(p []byte) bool {
	if len(p) < 2 {
		return false
	}
	switch typ := (p[0] >> 1) & 0x3f; {
	case typ < 48:
		a.addNAL(p)
		return true
	case typ == 48: // aggregation packet
		return a.addAggregated(p[2:])
	case typ == 49: // fragmentation unit
		if len(p) < 3 {
			return false
		}
		fu := p[2]
		return a.addFragment(fu&0x80 != 0, fu&0x40 != 0, []byte{p[0]&0x81 | (fu&0x3f)<<1, p[1]}, p[3:])
	}
	return false // PACI and reserved types
}

// vp8Descriptor returns the length of a VP8 payload descriptor (RFC 7741 §4.2), 0 if malformed.
func vp8Descriptor(p []byte) int {
	if len(p) < 1 {
		return 0
	}
	i := 1
	if p[0]&0x80 != 0 {
		if len(p) < 2 {
			return 0
		}
		x := p[1]
		i = 2
		if x&0x80 != 0 { // picture ID
			if len(p) <= i {
				return 0
			}
			if p[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if x&0x40 != 0 { // TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // TID/KEYIDX
			i++
		}
	}
	if i >= len(p) {
		return 0
	}
	return i
}

func (a *assembler) addVP8(p []byte) bool {
	i := vp8Descriptor(p)
	if i == 0 {
		return false
	}
	a.buf = append(a.buf, p[i:]...)
	return true
}

// vp9Descriptor returns the length of a VP9 payload descriptor (RFC 9628 §4.2), 0 if malformed.
func vp9Descriptor(p []byte) int {
	if len(p) < 1 {
		return 0
	}
	h := p[0]
	i := 1
	if h&0x80 != 0 { // I: picture ID
		if len(p) <= i {
			return 0
		}
		if p[i]&0x80 != 0 {
			i++
		}
		i++
	}
	if h&0x20 != 0 { // L: layer indices, plus TL0PICIDX in non-flexible mode
		i++
		if h&0x10 == 0 {
			i++
		}
	}
	if h&0x10 != 0 && h&0x40 != 0 { // F and P: up to three reference indices
		for k := 0; ; k++ {
			if len(p) <= i || k == 3 {
				return 0
			}
			more := p[i]&0x01 != 0
			i++
			if !more {
				break
			}
		}
	}
	if h&0x02 != 0 { // V: scalability structure
		n := vp9SSLength(p[min(i, len(p)):])
		if n == 0 {
			return 0
		}
		i += n
	}
	if i >= len(p) {
		return 0
	}
	return i
}

// vp9SSLength returns the length of a VP9 scalability structure (RFC 9628 §4.2.1), 0 if malformed.
func vp9SSLength(p []byte) int {
	if len(p) < 1 {
		return 0
	}
	layers := int(p[0]>>5) + 1
	i := 1
	if p[0]&0x10 != 0 { // Y: resolutions
		i += 4 * layers
	}
	if p[0]&0x08 != 0 { // G: picture group
		if len(p) <= i {
			return 0
		}
		pictures := int(p[i])
		i++
		for range pictures {
			if len(p) <= i {
				return 0
			}
			refs := int(p[i]>>2) & 0x03
			i += 1 + refs
		}
	}
	if i > len(p) {
		return 0
	}
	return i
}

func (a *assembler) addVP9(p []byte) bool {
	i := vp9Descriptor(p)
	if i == 0 {
		return false
	}
	a.buf = append(a.buf, p[i:]...)
	return true
}

// addAV1 goes through pion's depacketizer, which keeps a fragmented OBU across packets (it
// allocates per packet; AV1 is rare enough in WebRTC publishing for that to be fine).
func (a *assembler) addAV1(p []byte) bool {
	out, err := a.av1.Unmarshal(p)
	if err != nil {
		return false
	}
	a.buf = append(a.buf, out...)
	return true
}

// startsAccessUnit reports whether a payload provably begins an access unit, so that after a
// loss the next one can be kept: a parameter set, an access unit delimiter, SEI or the first
// slice of a picture (H.264, H.265), the start of a frame (VP8 S bit with partition 0, VP9 B bit),
// a temporal unit opening with a sequence header or a temporal delimiter (AV1). Opus packets are
// whole access units.
func startsAccessUnit(c media.Codec, p []byte) bool {
	switch c {
	case media.H264:
		return h264StartsAU(p)
	case media.H265:
		return h265StartsAU(p)
	case media.VP8:
		return len(p) > 0 && p[0]&0x10 != 0 && p[0]&0x07 == 0
	case media.VP9:
		return len(p) > 0 && p[0]&0x08 != 0
	case media.AV1:
		return av1StartsTU(p)
	}
	return true
}

func h264StartsAU(p []byte) bool {
	if len(p) < 2 {
		return false
	}
	typ, first := p[0]&0x1f, p[1]
	switch typ {
	case 24: // STAP-A: its first NAL unit
		if len(p) < 5 {
			return false
		}
		typ, first = p[3]&0x1f, p[4]
	case 28: // FU-A: the fragment that starts the NAL unit
		if p[1]&0x80 == 0 || len(p) < 3 {
			return false
		}
		typ, first = p[1]&0x1f, p[2]
	}
	switch typ {
	case 6, 7, 8, 9:
		return true
	case 1, 5: // first_mb_in_slice == 0: ue(v) starting with a 1 bit
		return first&0x80 != 0
	}
	return false
}

func h265StartsAU(p []byte) bool {
	if len(p) < 3 {
		return false
	}
	typ, first := (p[0]>>1)&0x3f, p[2]
	switch typ {
	case 48: // aggregation packet: its first NAL unit
		if len(p) < 7 {
			return false
		}
		typ, first = (p[4]>>1)&0x3f, p[6]
	case 49: // fragmentation unit: the one that starts the NAL unit
		if p[2]&0x80 == 0 || len(p) < 4 {
			return false
		}
		typ, first = p[2]&0x3f, p[3]
	}
	switch {
	case typ >= 32 && typ <= 35, typ == 39: // VPS, SPS, PPS, AUD, prefix SEI
		return true
	case typ < 32: // first_slice_segment_in_pic_flag
		return first&0x80 != 0
	}
	return false
}

func av1StartsTU(p []byte) bool {
	if len(p) < 2 || p[0]&0x80 != 0 { // Z: continues an OBU
		return false
	}
	i := 1
	if (p[0]>>4)&0x03 != 1 { // the first OBU element has a length field
		_, n := leb128(p[1:])
		if n == 0 {
			return false
		}
		i += n
	}
	if i >= len(p) {
		return false
	}
	typ := (p[i] >> 3) & 0x0f
	return typ == 1 || typ == 2
}

// pictureID returns the picture ID of a VP8 (RFC 7741 §4.2) or VP9 (RFC 9628 §4.2) payload and
// its modulus; mod is 0 when there is none.
func pictureID(c media.Codec, p []byte) (id, mod int) {
	i := 0
	switch c {
	case media.VP8:
		if len(p) < 3 || p[0]&0x80 == 0 || p[1]&0x80 == 0 {
			return 0, 0
		}
		i = 2
	case media.VP9:
		if len(p) < 2 || p[0]&0x80 == 0 {
			return 0, 0
		}
		i = 1
	default:
		return 0, 0
	}
	if p[i]&0x80 == 0 {
		return int(p[i] & 0x7f), 1 << 7
	}
	if len(p) <= i+1 {
		return 0, 0
	}
	return int(p[i]&0x7f)<<8 | int(p[i+1]), 1 << 15
}
