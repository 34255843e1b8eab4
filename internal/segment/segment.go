// Package segment defines what a container writer is: a pure formatter of access units over an
// io.WriteSeeker, which buffers about one second of media and writes it with one call, so that a
// file on disk always ends at a whole fragment (fMP4) or cluster (WebM). Writers never touch
// timers, file names or storage. segment imports only media.
package segment

import (
	"errors"
	"sync"
	"time"

	"github.com/vigilrec/vigil/internal/media"
)

// ErrClosed is returned by a Writer used after Close.
var ErrClosed = errors.New("segment writer is closed")

// Track describes one track of a segment file, with the codec configuration taken from the
// bitstream.
type Track struct {
	Kind      media.Kind
	Codec     media.Codec
	ClockRate uint32
	Channels  int
	Width     int
	Height    int
	// Parameter sets (H.264 SPS/PPS, H.265 VPS/SPS/PPS) or the AV1 sequence header OBU.
	VPS, SPS, PPS  []byte
	SequenceHeader []byte
	// VP9 profile, bit depth and chroma subsampling, from the first key frame.
	VP9Profile, VP9BitDepth, VP9Chroma uint8
}

// Sample is one access unit of one track.
type Sample struct {
	Track int
	// PTS is the presentation time from the start of the segment; per track it never decreases.
	PTS time.Duration
	Key bool
	// Data is length-prefixed NAL units (4-byte lengths) for H.264 and H.265, the frame for VP8
	// and VP9, OBUs with size fields for AV1, one packet for Opus. Writers copy it: the caller
	// may reuse it as soon as WriteSample returns.
	Data []byte
}

// Writer formats one segment. All methods are called from the recorder's goroutine.
type Writer interface {
	// WriteSample adds a sample; whole fragments are written as they complete.
	WriteSample(s Sample) error
	// Close writes what is buffered and finalises the file (duration). Idempotent.
	Close() error
	// CloseAt is Close for a segment that the next one continues at end (a rotation cut): the
	// last sample of each track lasts until end, so consecutive segments tile the timeline even
	// when the media just before the cut was lost. An end before the last sample is ignored.
	CloseAt(end time.Duration) error
	// Bytes is how much has been written so far.
	Bytes() int64
	// Duration is the media time written so far: up to the start of the last sample while
	// open, up to the end of the file once closed.
	Duration() time.Duration
}

// BuffersWriter is a file that writes several buffers with one call (storage.File: writev). A
// writer given one writes each fragment from the buffers its samples were gathered in, with no
// copy into one buffer first. bufs is consumed.
type BuffersWriter interface {
	WriteBuffers(bufs [][]byte) (int64, error)
}

// Options tune a writer.
type Options struct {
	// FragmentDuration is the media time buffered before a write. Default 1 s.
	FragmentDuration time.Duration
	// Buffers lends the chunks samples are gathered in and, to a writer whose file is not a
	// BuffersWriter, the buffer each fragment is formatted in for the time of its write. One pool
	// shared by every writer keeps a few such buffers in use instead of one per recording (about
	// 1 s of media each). Nil: each writer keeps its own.
	Buffers *BufferPool
	// Duration, when known before the file is written (an export of a time range), goes into
	// the header at once, so a player knows the file's length before it has its end; the writer
	// then never seeks back. 0: unknown, the writer patches it at Close where it does.
	Duration time.Duration
	// Start, when set, is the wall-clock time of the file's first instant, written in the header
	// (MP4 creation time, WebM DateUTC), where ffprobe and players show it.
	Start time.Time
}

// BufferPool lends byte buffers, and chunks of ChunkSize bytes; safe for concurrent use. The
// zero value is ready.
type BufferPool struct{ p, chunks sync.Pool }

// ChunkSize is the size of the chunks a BufferPool lends.
const ChunkSize = 16 << 10

// GetChunk returns a buffer of ChunkSize bytes (not zeroed).
func (bp *BufferPool) GetChunk() *[ChunkSize]byte {
	if bp != nil {
		if c, ok := bp.chunks.Get().(*[ChunkSize]byte); ok {
			return c
		}
	}
	return new([ChunkSize]byte)
}

// PutChunk gives a chunk back; the caller must not use it afterwards.
func (bp *BufferPool) PutChunk(c *[ChunkSize]byte) {
	if bp != nil {
		bp.chunks.Put(c)
	}
}

// Get returns an empty buffer, with the capacity of an earlier one when it can.
func (bp *BufferPool) Get() *[]byte {
	if bp == nil {
		return new([]byte)
	}
	if b, ok := bp.p.Get().(*[]byte); ok {
		*b = (*b)[:0]
		return b
	}
	return new([]byte)
}

// Put gives a buffer back; the caller must not use it afterwards.
func (bp *BufferPool) Put(b *[]byte) {
	if bp != nil {
		bp.p.Put(b)
	}
}

// WithDefaults fills unset options.
func (o Options) WithDefaults() Options {
	if o.FragmentDuration <= 0 {
		o.FragmentDuration = time.Second
	}
	return o
}

// Arena keeps copies of sample data until the fragment holding them is written. It reuses one
// buffer from fragment to fragment, so in the steady state copying allocates nothing. When the
// buffer is full a larger one replaces it; the copies already made stay valid.
type Arena struct{ buf []byte }

// Copy returns a copy of b that stays valid until Reset.
func (a *Arena) Copy(b []byte) []byte {
	if len(a.buf)+len(b) > cap(a.buf) {
		a.buf = make([]byte, 0, max(2*cap(a.buf), len(b), 64<<10))
	}
	start := len(a.buf)
	a.buf = append(a.buf, b...)
	return a.buf[start:len(a.buf):len(a.buf)]
}

// Reset lets the buffer be reused: every copy made so far becomes invalid.
func (a *Arena) Reset() { a.buf = a.buf[:0] }
