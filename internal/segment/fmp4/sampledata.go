package fmp4

import "github.com/vigilrec/vigil/internal/segment"

// sampleData holds one track's sample bytes for the fragment being built, in chunks borrowed
// from the pool every writer of the server shares. A track then holds what it has buffered, not
// the room its largest fragment once took: with a hundred recordings, each a second into its
// fragment on average, that halves the memory fragments take.
type sampleData struct {
	pool   *segment.BufferPool
	chunks []*[segment.ChunkSize]byte
	n      int
}

func (d *sampleData) append(b []byte) {
	for len(b) > 0 {
		if d.n == len(d.chunks)*segment.ChunkSize {
			d.chunks = append(d.chunks, d.pool.GetChunk())
		}
		off := d.n % segment.ChunkSize
		k := copy(d.chunks[d.n/segment.ChunkSize][off:], b)
		b, d.n = b[k:], d.n+k
	}
}

// pieces appends the first n bytes, as slices of the chunks, to out.
func (d *sampleData) pieces(out [][]byte, n int) [][]byte {
	for i := 0; n > 0; i++ {
		k := min(n, segment.ChunkSize)
		out = append(out, d.chunks[i][:k])
		n -= k
	}
	return out
}

// keepTail keeps the last k bytes, moved to the front, and gives back the chunks they do not
// need.
func (d *sampleData) keepTail(k int) {
	// Forward copy: every destination byte comes before its source, so overlaps are safe.
	for done := 0; done < k; {
		src, dst := d.n-k+done, done
		sc, so := d.chunks[src/segment.ChunkSize], src%segment.ChunkSize
		dc, do := d.chunks[dst/segment.ChunkSize], dst%segment.ChunkSize
		done += copy(dc[do:min(segment.ChunkSize, do+k-done)], sc[so:])
	}
	d.n = k
	keep := (k + segment.ChunkSize - 1) / segment.ChunkSize
	for i := keep; i < len(d.chunks); i++ {
		d.pool.PutChunk(d.chunks[i])
		d.chunks[i] = nil
	}
	d.chunks = d.chunks[:keep]
}
