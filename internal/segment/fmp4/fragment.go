package fmp4

import (
	"encoding/binary"

	mcfmp4 "github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
)

// trun flags and sample flags (ISO/IEC 14496-12 §8.8.8).
const (
	trunDataOffset     = 0x000001
	trunSampleDuration = 0x000100
	trunSampleSize     = 0x000200
	trunSampleFlags    = 0x000400
	sampleNonSync      = 1 << 16
	tfhdDefaultBase    = 0x020000 // default-base-is-moof
)

// appendFragment appends one fragment to b: a moof (mfhd, then per track a traf with tfhd, tfdt
// and trun) and the mdat with every sample, track after track (ISO/IEC 14496-12 §8.8). It writes
// byte for byte what mediacommon's fmp4.Part.Marshal does, by hand into a reused buffer: that
// one marshals through reflection and allocates per sample, once a second per recording.
func appendFragment(b []byte, seq uint32, tracks []*mcfmp4.PartTrack) []byte {
	moofAt := len(b)
	b = appendBox(b, "moof")
	b = binary.BigEndian.AppendUint32(b, 16)
	b = append(b, "mfhd"...)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, seq)
	offsetAt := make([]int, 0, 4) // where each trun's data offset goes
	for _, t := range tracks {
		var at int
		b, at = appendTraf(b, t)
		offsetAt = append(offsetAt, at)
	}
	moofSize := len(b) - moofAt
	binary.BigEndian.PutUint32(b[moofAt:], uint32(moofSize))
	mdatAt := len(b)
	b = appendBox(b, "mdat")
	data := moofSize + 8
	for i, t := range tracks {
		binary.BigEndian.PutUint32(b[offsetAt[i]:], uint32(data))
		for _, s := range t.Samples {
			b = append(b, s.Payload...)
			data += len(s.Payload)
		}
	}
	binary.BigEndian.PutUint32(b[mdatAt:], uint32(len(b)-mdatAt))
	return b
}

// appendBox appends a box header whose size is patched later.
func appendBox(b []byte, typ string) []byte {
	b = append(b, 0, 0, 0, 0)
	return append(b, typ...)
}

func appendTraf(b []byte, t *mcfmp4.PartTrack) ([]byte, int) {
	trafAt := len(b)
	b = appendBox(b, "traf")
	b = binary.BigEndian.AppendUint32(b, 16)
	b = append(b, "tfhd"...)
	b = binary.BigEndian.AppendUint32(b, tfhdDefaultBase)
	b = binary.BigEndian.AppendUint32(b, uint32(t.ID))
	b = binary.BigEndian.AppendUint32(b, 20)
	b = append(b, "tfdt"...)
	b = binary.BigEndian.AppendUint32(b, 1<<24) // version 1
	b = binary.BigEndian.AppendUint64(b, t.BaseTime)

	flags := uint32(trunDataOffset | trunSampleDuration | trunSampleSize)
	entry := 8
	for _, s := range t.Samples {
		if s.IsNonSyncSample {
			flags |= trunSampleFlags
			entry = 12
			break
		}
	}
	b = binary.BigEndian.AppendUint32(b, uint32(20+entry*len(t.Samples)))
	b = append(b, "trun"...)
	b = binary.BigEndian.AppendUint32(b, 1<<24|flags) // version 1
	b = binary.BigEndian.AppendUint32(b, uint32(len(t.Samples)))
	offsetAt := len(b)
	b = binary.BigEndian.AppendUint32(b, 0)
	for _, s := range t.Samples {
		b = binary.BigEndian.AppendUint32(b, s.Duration)
		b = binary.BigEndian.AppendUint32(b, uint32(len(s.Payload)))
		if flags&trunSampleFlags != 0 {
			sf := uint32(0)
			if s.IsNonSyncSample {
				sf = sampleNonSync
			}
			b = binary.BigEndian.AppendUint32(b, sf)
		}
	}
	binary.BigEndian.PutUint32(b[trafAt:], uint32(len(b)-trafAt))
	return b, offsetAt
}
