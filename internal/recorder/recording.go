package recorder

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/vigilrec/vigil/internal/hub"
)

// State of a recording.
type State string

// Recording states.
const (
	StateRecording State = "recording"
	// StateWaiting: the stream ended; an automatic recording waits for it to come back.
	StateWaiting State = "waiting"
	// StatePaused: nothing is written, because the disk guard paused recording or writes
	// failed (Error says why); it resumes by itself.
	StatePaused  State = "paused"
	StateStopped State = "stopped"
	StateFailed  State = "failed"
)

// Options of one recording.
type Options struct {
	Rotation Rotation
	// Template names the files; empty means DefaultTemplate. See ValidateTemplate.
	Template string
	Formats  Formats
	// Preroll starts the recording with the group of pictures already received.
	Preroll bool
	// Automatic recordings were started by the record policy, and survive their stream's
	// reconnection within the grace period.
	Automatic bool
}

// Status is a snapshot of a recording.
type Status struct {
	ID             string
	Stream         string
	MediaSessionID string
	State          State
	Automatic      bool
	Started        time.Time
	Stopped        time.Time
	Bytes          int64
	Duration       time.Duration
	Segments       int
	CurrentFile    string
	Files          []string
	Rotation       string
	Template       string
	Error          string
	// Loss is what the recording did about lost, late and reordered packets.
	Loss Loss
}

// Recording is one recording of a stream: a goroutine owned by the Manager.
type Recording struct {
	id     string
	mgr    *Manager
	opts   Options
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}
	resume chan *hub.Stream

	mu          sync.Mutex
	status      Status
	closedBytes int64
	closedDur   time.Duration
	segments    int
	health      recordingHealth // stats.go
	loss        lossStats       // loss.go
}

// run records stream, and (for automatic recordings) the same name again if it comes back
// within the grace period, then finishes.
func (r *Recording) run(ctx context.Context, stream *hub.Stream) {
	defer r.mgr.wg.Done()
	defer close(r.done)
	var err error
	for stream != nil {
		r.setStream(stream)
		err = newSession(r, stream).run(ctx)
		stream = nil
		if ctx.Err() != nil || (err != nil && !errors.Is(err, hub.ErrClosed)) {
			break
		}
		err = nil
		if !r.opts.Automatic || r.mgr.cfg.Grace <= 0 {
			break
		}
		r.setState(StateWaiting)
		timer := time.NewTimer(r.mgr.cfg.Grace)
		select {
		case stream = <-r.resume:
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
	}
	r.finish(err)
}

func (r *Recording) setStream(s *hub.Stream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status.MediaSessionID = s.ID()
	r.status.State = StateRecording
}

func (r *Recording) setPaused(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.status.State != StatePaused {
		r.log.Warn("recording paused", "reason", reason)
	}
	r.status.State, r.status.Error = StatePaused, reason
}

func (r *Recording) setFailure(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log.Error("recording could not write; retrying", "err", err, "retry_in", r.mgr.cfg.WriteRetry)
	r.status.State, r.status.Error = StatePaused, err.Error()
}

func (r *Recording) setRecording() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.status.State == StatePaused {
		r.log.Info("recording resumed")
	}
	r.status.State = StateRecording
}

func (r *Recording) setState(st State) {
	r.mu.Lock()
	r.status.State = st
	r.mu.Unlock()
}

func (r *Recording) finish(err error) {
	r.mu.Lock()
	r.status.Stopped = time.Now()
	r.status.State = StateStopped
	r.status.CurrentFile = ""
	if err != nil {
		r.status.State = StateFailed
		r.status.Error = err.Error()
		r.log.Error("recording failed", "err", err)
	}
	stopped := []any{"state", r.status.State, "segments", len(r.status.Files), "bytes", r.status.Bytes,
		"duration", r.status.Duration.Round(time.Millisecond),
		"recorded_for", r.status.Stopped.Sub(r.status.Started).Round(time.Millisecond)}
	r.mu.Unlock()
	r.log.Info("recording stopped", stopped...)
	r.loss.snapshot().logSummary(r.log)
	r.mgr.finished(r)
	if ev, ok := r.mgr.events.(RecordingEvents); ok {
		ev.RecordingStopped(r.Status())
	}
}

func (r *Recording) nextSegment() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.segments++
	return r.segments
}

func (r *Recording) fileName(info SegmentInfo, end time.Time) (string, error) {
	name, err := expand(r.opts.Template, nameFields{stream: info.Stream, mediaSessionID: info.MediaSessionID,
		videoCodec: info.VideoCodec, audioCodec: info.AudioCodec, start: info.Start, end: end, segment: info.Index})
	if err != nil {
		return "", err
	}
	return name + "." + string(info.Container), nil
}

func (r *Recording) segmentOpened(info SegmentInfo) {
	r.mu.Lock()
	r.status.CurrentFile = info.Path
	r.status.Segments++
	r.mu.Unlock()
	r.mgr.events.SegmentOpened(info)
}

func (r *Recording) progress(seg *openSegment) {
	r.mu.Lock()
	r.status.Bytes = r.closedBytes + seg.w.Bytes()
	r.status.Duration = r.closedDur + seg.w.Duration()
	r.mu.Unlock()
}

func (r *Recording) segmentClosed(info SegmentInfo) {
	r.mu.Lock()
	r.status.CurrentFile = ""
	if info.Path == "" {
		r.status.Segments--
	} else {
		r.closedBytes += info.Bytes
		r.closedDur += info.Duration
		r.status.Bytes, r.status.Duration = r.closedBytes, r.closedDur
		r.status.Files = append(r.status.Files, info.Path)
	}
	r.mu.Unlock()
	if info.Path != "" {
		attrs := []any{"file", filepath.Base(info.Path), "segment", info.Index, "bytes", info.Bytes,
			"duration", info.Duration.Round(time.Millisecond)}
		if info.Err != nil {
			attrs = append(attrs, "err", info.Err)
		}
		r.log.Info("segment closed", attrs...)
	}
	r.mgr.events.SegmentClosed(info)
}

// Status returns a snapshot.
func (r *Recording) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.status
	s.Files = append([]string(nil), r.status.Files...)
	s.Loss = r.loss.snapshot()
	return s
}
