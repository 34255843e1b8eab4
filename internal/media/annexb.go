package media

import "bytes"

// SplitAnnexB cuts an H.264 or H.265 Annex B byte stream at its start codes (00 00 01, or
// 00 00 00 01) and returns the NAL units without them. A whole clip holds far more NAL units than
// mediacommon's per-access-unit parser allows, hence this one.
func SplitAnnexB(data []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i+2 < len(data); i++ {
		if data[i] != 0 || data[i+1] != 0 || data[i+2] != 1 {
			continue
		}
		if start >= 0 {
			out = append(out, bytes.TrimRight(data[start:i], "\x00"))
		}
		start = i + 3
		i += 2
	}
	if start >= 0 && start < len(data) {
		out = append(out, data[start:])
	}
	return out
}
