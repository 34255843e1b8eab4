package media

import (
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/vp9"
)

// PictureSize extracts the coded picture size from the RTP payload that starts a keyframe, where
// the codec carries it in-band: the SPS for H.264 and H.265, the key frame header for VP8 and VP9,
// the sequence header OBU for AV1. ok is false when this packet does not carry it.
func PictureSize(c Codec, payload []byte) (width, height int, ok bool) {
	switch c {
	case H264:
		return h264Size(payload)
	case H265:
		return h265Size(payload)
	case VP8:
		return vp8Size(payload)
	case VP9:
		return vp9Size(payload)
	case AV1:
		return av1Size(payload)
	}
	return 0, 0, false
}

func h264Size(p []byte) (int, int, bool) {
	var sps []byte
	if len(p) > 0 && p[0]&0x1f == 7 {
		sps = p
	} else if len(p) > 0 && p[0]&0x1f == 24 {
		forEachAggregated(p[1:], func(nal []byte) {
			if len(nal) > 0 && nal[0]&0x1f == 7 {
				sps = nal
			}
		})
	}
	if sps == nil {
		return 0, 0, false
	}
	var s h264.SPS
	if err := s.Unmarshal(sps); err != nil {
		return 0, 0, false
	}
	return s.Width(), s.Height(), true
}

func h265Size(p []byte) (int, int, bool) {
	var sps []byte
	if len(p) >= 2 {
		switch (p[0] >> 1) & 0x3f {
		case 33:
			sps = p
		case 48:
			forEachAggregated(p[2:], func(nal []byte) {
				if len(nal) > 0 && (nal[0]>>1)&0x3f == 33 {
					sps = nal
				}
			})
		}
	}
	if sps == nil {
		return 0, 0, false
	}
	var s h265.SPS
	if err := s.Unmarshal(sps); err != nil {
		return 0, 0, false
	}
	return s.Width(), s.Height(), true
}

// vp8Size reads the key frame header: 3-byte frame tag, start code 9d 01 2a, then 14-bit width
// and height (RFC 6386 §9.1).
func vp8Size(p []byte) (int, int, bool) {
	i, start := vp8PayloadStart(p)
	if !start || p[i]&0x01 != 0 || len(p) < i+10 {
		return 0, 0, false
	}
	h := p[i:]
	if h[3] != 0x9d || h[4] != 0x01 || h[5] != 0x2a {
		return 0, 0, false
	}
	w := int(h[6]) | int(h[7]&0x3f)<<8
	ht := int(h[8]) | int(h[9]&0x3f)<<8
	return w, ht, true
}

// vp9Size reads the scalability structure when the descriptor carries one (RFC 9628 §4.2.1),
// else the uncompressed header of the key frame.
func vp9Size(p []byte) (int, int, bool) {
	if !vp9KeyframeStart(p) {
		return 0, 0, false
	}
	i := 1
	flags := p[0]
	if flags&0x80 != 0 { // I: picture ID
		if len(p) <= i {
			return 0, 0, false
		}
		if p[i]&0x80 != 0 {
			i++
		}
		i++
	}
	if flags&0x20 != 0 { // L: layer indices (plus TL0PICIDX in non-flexible mode)
		i++
		if flags&0x10 == 0 {
			i++
		}
	}
	if flags&0x02 != 0 && len(p) > i { // V: scalability structure
		ss := p[i]
		if ss&0x10 != 0 && len(p) >= i+5 { // Y: resolutions present
			w := int(p[i+1])<<8 | int(p[i+2])
			h := int(p[i+3])<<8 | int(p[i+4])
			return w, h, true
		}
		return 0, 0, false
	}
	if len(p) <= i {
		return 0, 0, false
	}
	var hdr vp9.Header
	if err := hdr.Unmarshal(p[i:]); err != nil || hdr.FrameSize == nil {
		return 0, 0, false
	}
	return hdr.Width(), hdr.Height(), true
}

// av1Size finds a sequence header OBU in an aggregation packet (AV1 RTP spec §4.4).
func av1Size(p []byte) (int, int, bool) {
	if len(p) < 2 {
		return 0, 0, false
	}
	count := int(p[0]>>4) & 0x03
	rest := p[1:]
	for n := 1; len(rest) > 0; n++ {
		var elem []byte
		if count != 0 && n == count {
			elem, rest = rest, nil
		} else {
			var size av1.LEB128
			k, err := size.Unmarshal(rest)
			if err != nil || int(size) > len(rest)-k {
				return 0, 0, false
			}
			elem, rest = rest[k:k+int(size)], rest[k+int(size):]
		}
		if len(elem) > 0 && (elem[0]>>3)&0x0f == 1 && elem[0]&0x02 == 0 {
			var sh av1.SequenceHeader
			if err := sh.Unmarshal(elem); err == nil {
				return sh.Width(), sh.Height(), true
			}
		}
	}
	return 0, 0, false
}
