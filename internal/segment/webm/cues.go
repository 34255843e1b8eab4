package webm

import (
	"bytes"
	"fmt"
	"time"

	"github.com/at-wat/ebml-go"
	mkv "github.com/at-wat/ebml-go/webm"
)

// ReservedHead is the size of the Void element that a file starts its Segment with, where Close
// (or the repair of a file a crash left) writes the SeekHead that points to the Cues. A file
// cut short keeps the Void and plays all the same.
const ReservedHead = 48

const idVoid = 0xEC

// idCues is the Cues element's ID as a SeekHead names it.
var idCues = []byte{0x1C, 0x53, 0xBB, 0x6B}

// CuePoint is one entry of the index: where a keyframe of track 1 is.
type CuePoint struct {
	Time time.Duration
	// Cluster is the position of the Cluster holding it, from the start of the Segment's data.
	Cluster int64
}

// AppendCues appends a Cues element indexing points to b.
func AppendCues(b []byte, points []CuePoint) []byte {
	var c struct {
		Cues mkv.Cues `ebml:"Cues"`
	}
	for _, p := range points {
		c.Cues.CuePoint = append(c.Cues.CuePoint, mkv.CuePoint{CueTime: uint64(p.Time / time.Millisecond),
			CueTrackPositions: []mkv.CueTrackPosition{{CueTrack: 1, CueClusterPosition: uint64(p.Cluster)}}})
	}
	buf := bytes.NewBuffer(b)
	if err := ebml.Marshal(&c, buf); err != nil {
		panic(fmt.Sprintf("marshal cues: %v", err)) // plain integers: cannot fail
	}
	return buf.Bytes()
}

// SeekHead is the ReservedHead bytes that replace the reserved Void: a SeekHead pointing to the
// Cues at cuesPos (from the start of the Segment's data), and a Void for the rest.
func SeekHead(cuesPos int64) []byte {
	var s struct {
		SeekHead mkv.SeekHead `ebml:"SeekHead"`
	}
	s.SeekHead.Seek = []mkv.Seek{{SeekID: idCues, SeekPosition: uint64(cuesPos)}}
	var buf bytes.Buffer
	if err := ebml.Marshal(&s, &buf); err != nil {
		panic(fmt.Sprintf("marshal seek head: %v", err))
	}
	return appendVoid(buf.Bytes(), ReservedHead-buf.Len())
}

// appendVoid appends a Void element of n bytes in all (2 ≤ n < 129).
func appendVoid(b []byte, n int) []byte {
	b = append(b, idVoid, 0x80|byte(n-2))
	return append(b, make([]byte, n-2)...)
}
