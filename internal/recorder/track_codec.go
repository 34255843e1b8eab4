package recorder

import (
	"github.com/vigilrec/vigil/internal/media"
)

// isKeyAU tells a key frame from its access unit (AVCC for H.264/H.265, frames for the others).
func isKeyAU(c media.Codec, au []byte) bool {
	switch c {
	case media.H264, media.H265:
		for b := au; len(b) >= 4; {
			n := int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3])
			b = b[4:]
			if n <= 0 || n > len(b) {
				break
			}
			nal := b[:n]
			b = b[n:]
			if c == media.H264 && nal[0]&0x1f == 5 {
				return true
			}
			if typ := (nal[0] >> 1) & 0x3f; c == media.H265 && typ >= 16 && typ <= 21 {
				return true
			}
		}
		return false
	case media.VP8:
		return len(au) > 0 && au[0]&0x01 == 0
	case media.VP9:
		return vp9Key(au)
	case media.AV1:
		return av1HasSequenceHeader(au)
	}
	return true
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
