package media

// IsKeyframeStart reports whether an RTP payload of the given codec begins a keyframe, so that a
// decoder (or a subscriber that skipped packets) can start from it. For H.264 and H.265 a packet
// with parameter sets counts, since encoders send them immediately before the IRAP picture.
//
// Payload formats: H.264 RFC 6184, H.265 RFC 7798, VP8 RFC 7741, VP9 RFC 9628, AV1 RTP spec §4.4.
func IsKeyframeStart(c Codec, payload []byte) bool {
	switch c {
	case H264:
		return h264KeyframeStart(payload)
	case H265:
		return h265KeyframeStart(payload)
	case VP8:
		return vp8KeyframeStart(payload)
	case VP9:
		return vp9KeyframeStart(payload)
	case AV1:
		// N: the first packet of a coded video sequence, which always starts with a key frame.
		return len(payload) > 0 && payload[0]&0x08 != 0
	}
	return false
}

func h264IsKeyNAL(typ byte) bool { return typ == 5 || typ == 7 }

func h264KeyframeStart(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	switch typ := p[0] & 0x1f; typ {
	case 24: // STAP-A
		found := false
		forEachAggregated(p[1:], func(nal []byte) {
			if len(nal) > 0 && h264IsKeyNAL(nal[0]&0x1f) {
				found = true
			}
		})
		return found
	case 28: // FU-A: only the fragment that starts the NAL unit
		return len(p) >= 2 && p[1]&0x80 != 0 && h264IsKeyNAL(p[1]&0x1f)
	default:
		return h264IsKeyNAL(typ)
	}
}

func h265IsKeyNAL(typ byte) bool { return (typ >= 16 && typ <= 21) || (typ >= 32 && typ <= 34) }

func h265KeyframeStart(p []byte) bool {
	if len(p) < 2 {
		return false
	}
	switch typ := (p[0] >> 1) & 0x3f; typ {
	case 48: // aggregation packet
		found := false
		forEachAggregated(p[2:], func(nal []byte) {
			if len(nal) > 0 && h265IsKeyNAL((nal[0]>>1)&0x3f) {
				found = true
			}
		})
		return found
	case 49: // fragmentation unit
		return len(p) >= 3 && p[2]&0x80 != 0 && h265IsKeyNAL(p[2]&0x3f)
	default:
		return h265IsKeyNAL(typ)
	}
}

// forEachAggregated walks 16-bit length-prefixed NAL units (STAP-A, H.265 AP) and stops quietly at
// the first malformed length.
func forEachAggregated(p []byte, fn func(nal []byte)) {
	for len(p) >= 2 {
		n := int(p[0])<<8 | int(p[1])
		p = p[2:]
		if n == 0 || n > len(p) {
			return
		}
		fn(p[:n])
		p = p[n:]
	}
}

// vp8PayloadStart returns the offset of the VP8 payload header after the payload descriptor
// (RFC 7741 §4.2), and whether this packet starts partition 0 of a frame.
func vp8PayloadStart(p []byte) (int, bool) {
	if len(p) < 1 {
		return 0, false
	}
	start := p[0]&0x10 != 0 && p[0]&0x07 == 0
	i := 1
	if p[0]&0x80 != 0 { // X: extension byte
		if len(p) < 2 {
			return 0, false
		}
		x := p[1]
		i = 2
		if x&0x80 != 0 { // I: picture ID, 7 or 15 bits
			if len(p) <= i {
				return 0, false
			}
			if p[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // T or K: TID/KEYIDX byte
			i++
		}
	}
	if i >= len(p) {
		return 0, false
	}
	return i, start
}

func vp8KeyframeStart(p []byte) bool {
	i, start := vp8PayloadStart(p)
	// P bit of the frame tag: 0 means key frame.
	return start && p[i]&0x01 == 0
}

func vp9KeyframeStart(p []byte) bool {
	// B (start of frame) set and P (inter-picture predicted) clear.
	return len(p) > 0 && p[0]&0x08 != 0 && p[0]&0x40 == 0
}
