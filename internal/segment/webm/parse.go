package webm

import (
	"encoding/binary"
	"errors"
)

// ErrTorn is returned for a Cluster whose elements do not add up: a file cut in the middle.
var ErrTorn = errors.New("torn cluster")

const (
	idTimecodeEl    = 0xE7
	idSimpleBlockEl = 0xA3
)

// Element reads an element header at the start of b: its ID (marker bits kept, as the
// specification writes IDs), its data size (-1 when unknown) and the header's length, 0 when b
// is too short to hold it.
func Element(b []byte) (id uint32, size int64, n int) {
	if len(b) == 0 {
		return 0, 0, 0
	}
	idLen := 1
	for idLen <= 4 && b[0]&(0x80>>(idLen-1)) == 0 {
		idLen++
	}
	if idLen > 4 || len(b) < idLen {
		return 0, 0, 0
	}
	for _, c := range b[:idLen] {
		id = id<<8 | uint32(c)
	}
	v, vn := Vint(b[idLen:])
	if vn == 0 {
		return 0, 0, 0
	}
	if v == 1<<(7*vn)-1 {
		return id, -1, idLen + vn // all ones: unknown size
	}
	return id, int64(v), idLen + vn
}

// Vint reads an EBML variable-length integer without its length marker: the value and its
// length, 0 when b is too short.
func Vint(b []byte) (uint64, int) {
	if len(b) == 0 {
		return 0, 0
	}
	n := 1
	for n <= 8 && b[0]&(0x80>>(n-1)) == 0 {
		n++
	}
	if n > 8 || len(b) < n {
		return 0, 0
	}
	v := uint64(b[0] & (0xff >> n))
	for _, c := range b[1:n] {
		v = v<<8 | uint64(c)
	}
	return v, n
}

// ClusterBlocks calls fn with each SimpleBlock of a Cluster's body, in order: its track number,
// its time in the file's timecode units (the Cluster's Timecode plus the block's offset), its
// keyframe flag and its frame. fn returns false to stop. A body that does not add up is ErrTorn.
func ClusterBlocks(body []byte, fn func(track uint64, at int64, key bool, frame []byte) bool) error {
	var base int64
	for p := 0; p < len(body); {
		id, size, n := Element(body[p:])
		if n == 0 || size < 0 || p+n+int(size) > len(body) {
			return ErrTorn
		}
		el := body[p+n : p+n+int(size)]
		switch id {
		case idTimecodeEl:
			base = 0
			for _, c := range el {
				base = base<<8 | int64(c)
			}
		case idSimpleBlockEl:
			track, tn := Vint(el)
			if tn == 0 || len(el) < tn+3 {
				return ErrTorn
			}
			rel := int64(int16(binary.BigEndian.Uint16(el[tn:])))
			if !fn(track, base+rel, el[tn+2]&0x80 != 0, el[tn+3:]) {
				return nil
			}
		}
		p += n + int(size)
	}
	return nil
}
