package fmp4

import "encoding/binary"

// trun flags and sample flags (ISO/IEC 14496-12 §8.8.8), as mediacommon writes them.
const (
	trunDataOffset      = 0x01
	trunSampleDuration  = 0x100
	trunSampleSize      = 0x200
	trunSampleFlags     = 0x400
	sampleIsNonSync     = 1 << 16
	tfhdDefaultBaseMoof = 0x020000
)

// sampleMeta is what the moof says of one sample; its bytes sit in the track's data buffer.
type sampleMeta struct {
	duration uint32
	size     uint32
	nonSync  bool
}

// fragmentTrack is one track's part of a fragment.
type fragmentTrack struct {
	id       uint32
	baseTime uint64
	samples  []sampleMeta
	data     [][]byte // the samples' payloads, in order, in pieces
	size     int      // the bytes in data
}

// appendFragment appends one fragment (moof + mdat) of tracks to out and returns it. The layout
// and every byte are those of mediacommon's fmp4.Part.Marshal (a test holds them equal), built
// without reflection or allocation: with a hundred recordings this runs a hundred times a second.
func appendFragment(out []byte, seq uint32, tracks []fragmentTrack) []byte {
	out = appendFragmentHead(out, seq, tracks)
	for _, t := range tracks {
		for _, p := range t.data {
			out = append(out, p...)
		}
	}
	return out
}

// appendFragmentHead appends the moof and the mdat's header of tracks: what precedes the
// samples' payloads, which follow in order (appendFragment, or a vectored write of the pieces).
func appendFragmentHead(out []byte, seq uint32, tracks []fragmentTrack) []byte {
	moofSize := 8 + 16 // moof header, mfhd
	for _, t := range tracks {
		moofSize += 8 + 16 + 20 + trunSize(t) // traf header, tfhd, tfdt, trun
	}
	dataOffset := moofSize + 8 // the first payload byte, after the mdat header
	moofStart := len(out)
	out = appendBoxHeader(out, "moof")
	out = appendFullBoxHeader(out, "mfhd", 0, 0)
	out = binary.BigEndian.AppendUint32(out, seq)
	out = setBoxSize(out, moofStart+8)
	for _, t := range tracks {
		trafStart := len(out)
		out = appendBoxHeader(out, "traf")
		out = appendFullBoxHeader(out, "tfhd", 0, tfhdDefaultBaseMoof)
		out = binary.BigEndian.AppendUint32(out, t.id)
		out = setBoxSize(out, trafStart+8)
		tfdtStart := len(out)
		out = appendFullBoxHeader(out, "tfdt", 1, 0)
		out = binary.BigEndian.AppendUint64(out, t.baseTime)
		out = setBoxSize(out, tfdtStart)
		out = appendTrun(out, t, dataOffset)
		out = setBoxSize(out, trafStart)
		dataOffset += t.size
	}
	out = setBoxSize(out, moofStart)
	payload := 0
	for _, t := range tracks {
		payload += t.size
	}
	out = binary.BigEndian.AppendUint32(out, uint32(8+payload))
	return append(out, "mdat"...)
}

func trunFlags(t fragmentTrack) uint32 {
	flags := uint32(trunDataOffset | trunSampleDuration | trunSampleSize)
	for _, s := range t.samples {
		if s.nonSync {
			return flags | trunSampleFlags
		}
	}
	return flags
}

func trunSize(t fragmentTrack) int {
	perSample := 8
	if trunFlags(t)&trunSampleFlags != 0 {
		perSample = 12
	}
	return 12 + 4 + 4 + perSample*len(t.samples) // full box header, count, data offset, entries
}

func appendTrun(out []byte, t fragmentTrack, dataOffset int) []byte {
	flags := trunFlags(t)
	start := len(out)
	out = appendFullBoxHeader(out, "trun", 1, flags)
	out = binary.BigEndian.AppendUint32(out, uint32(len(t.samples)))
	out = binary.BigEndian.AppendUint32(out, uint32(dataOffset))
	for _, s := range t.samples {
		out = binary.BigEndian.AppendUint32(out, s.duration)
		out = binary.BigEndian.AppendUint32(out, s.size)
		if flags&trunSampleFlags != 0 {
			var sf uint32
			if s.nonSync {
				sf = sampleIsNonSync
			}
			out = binary.BigEndian.AppendUint32(out, sf)
		}
	}
	return setBoxSize(out, start)
}

func appendBoxHeader(out []byte, typ string) []byte {
	out = binary.BigEndian.AppendUint32(out, 0) // size, set by setBoxSize
	return append(out, typ...)
}

func appendFullBoxHeader(out []byte, typ string, version byte, flags uint32) []byte {
	out = appendBoxHeader(out, typ)
	return binary.BigEndian.AppendUint32(out, uint32(version)<<24|flags&0xffffff)
}

// setBoxSize writes the size of the box that starts at start and ends at the end of out.
func setBoxSize(out []byte, start int) []byte {
	binary.BigEndian.PutUint32(out[start:], uint32(len(out)-start))
	return out
}
