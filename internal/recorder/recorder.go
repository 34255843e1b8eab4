// Package recorder records live streams: each recording is a hub subscriber that depacketizes
// its stream once into access units, places them on one timeline (RTCP sender reports keep audio
// and video in sync), and feeds them to a segment writer, rotating at keyframes by duration or
// size. It writes through the Sink it is given and reports segments through Events; it never
// imports storage, api or metrics.
package recorder

import (
	"errors"
	"io"
	"time"
)

// Errors of recording control.
var (
	// ErrAlreadyRecording means the stream already has a recording.
	ErrAlreadyRecording = errors.New("stream is already being recorded")
	// ErrNotRecording means there is no such recording.
	ErrNotRecording = errors.New("recording not found")
	// ErrRefused means a guard (such as disk space) refused a new recording.
	ErrRefused = errors.New("recording refused")
)

// File is a segment file being written: the writer seeks only to patch headers.
type File interface {
	io.WriteSeeker
	// Commit makes the file final under name (a plain file name) and returns its path.
	Commit(name string) (string, error)
	// Abort removes a file that never got media.
	Abort() error
}

// Sink creates segment files. Create is called from recording goroutines.
type Sink interface {
	Create(name string) (File, error)
}

// SegmentInfo describes one segment file.
type SegmentInfo struct {
	RecordingID    string
	Stream         string
	MediaSessionID string
	Index          int
	Path           string // absolute; the temporary path while open
	Container      Container
	VideoCodec     string
	AudioCodec     string
	Start, End     time.Time
	Duration       time.Duration
	Bytes          int64
	// Err is set when the segment ended because writing failed.
	Err error
}

// Events receives segment lifecycle events, in order per recording, from the recording's
// goroutine. Implementations must not block for long (a catalog write is fine, a shell hook
// must be queued).
type Events interface {
	SegmentOpened(SegmentInfo)
	SegmentClosed(SegmentInfo)
}

// RecordingEvents is optionally implemented by Events to hear of whole recordings starting and
// ending (for webhooks); called from the manager and the recording's goroutine.
type RecordingEvents interface {
	RecordingStarted(Status)
	RecordingStopped(Status)
}
