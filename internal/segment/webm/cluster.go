package webm

import (
	"encoding/binary"
	"errors"
	"math"
	"time"
)

// Element IDs of a Cluster (https://www.matroska.org/technical/elements.html).
const (
	idCluster     = 0x1F43B675
	idTimecode    = 0xE7
	idSimpleBlock = 0xA3
)

// appendCluster appends one Cluster holding blocks (sorted by time) to b: its Timecode (base, in
// milliseconds) and one SimpleBlock per block (no lacing; RFC 9559 §10.2), written by hand into
// a reused buffer rather than through reflection, since it runs once a second per recording
// with every byte of media.
func appendCluster(b []byte, base time.Duration, blocks []block) ([]byte, error) {
	b = binary.BigEndian.AppendUint32(b, idCluster)
	sizeAt := len(b)
	b = append(b, 0x01, 0, 0, 0, 0, 0, 0, 0) // an 8-byte size, patched below
	b = append(b, idTimecode)
	b = appendUint(b, uint64(base/time.Millisecond))
	for _, bl := range blocks {
		rel := (bl.pts - base) / time.Millisecond
		if rel > math.MaxInt16 || rel < math.MinInt16 {
			return b, errors.New("cluster spans more than 32 s")
		}
		flags := byte(0)
		if bl.key {
			flags = 0x80
		}
		b = append(b, idSimpleBlock)
		b = appendVint(b, uint64(4+len(bl.data)))
		b = append(b, 0x80|byte(bl.track+1), byte(uint16(rel)>>8), byte(rel), flags)
		b = append(b, bl.data...)
	}
	binary.BigEndian.PutUint64(b[sizeAt:], uint64(len(b)-sizeAt-8)|0x01<<56)
	return b, nil
}

// appendUint appends an unsigned integer element's size and value, in as few bytes as it takes.
func appendUint(b []byte, v uint64) []byte {
	n := 1
	for n < 8 && v>>(8*n) != 0 {
		n++
	}
	b = append(b, 0x80|byte(n))
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

// appendVint appends an element size as an EBML variable-length integer of the fewest bytes
// (all ones is reserved for unknown sizes).
func appendVint(b []byte, v uint64) []byte {
	n := 1
	for n < 8 && v >= 1<<(7*n)-1 {
		n++
	}
	v |= 1 << (7 * n)
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}
