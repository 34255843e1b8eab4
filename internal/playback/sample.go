package playback

import (
	"io"
	"time"
)

// sample is one access unit read back from a segment, timed from the segment's start.
type sample struct {
	track int
	pts   time.Duration
	key   bool
	data  []byte
}

// sampleQueue hands out the samples of one unit of a file (a fragment, a cluster) at a time.
type sampleQueue struct {
	samples []sample
	next    int
	done    bool // the file has no more units
}

// pop returns the next sample, calling fill for the next unit when the queue is empty.
func (q *sampleQueue) pop(fill func() error) (sample, error) {
	for q.next >= len(q.samples) {
		if q.done {
			return sample{}, io.EOF
		}
		if err := fill(); err != nil {
			return sample{}, err
		}
	}
	s := q.samples[q.next]
	q.next++
	return s, nil
}

func (q *sampleQueue) reset() { q.samples, q.next = q.samples[:0], 0 }
