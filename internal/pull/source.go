package pull

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/whip"
)

// source is one pull: the publisher of its local stream as the hub sees it, and the supervisor
// of its upstream sessions. Its run goroutine owns everything; other goroutines only read the
// status, ask for a keyframe, or cancel.
type source struct {
	mgr    *Manager
	spec   Spec
	seq    int // creation order, for listing
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}

	settleOnce sync.Once
	settled    chan struct{} // closed when the first attempt has an outcome

	// Owned by the run goroutine.
	outs     []*trackOut
	lostAt   time.Time // when the held stream last had an upstream; zero while playing
	attempts int

	mu     sync.Mutex
	status Status
	stream *hub.Stream
	cur    *upstream
}

var _ hub.Source = (*source)(nil)

// RequestKeyframe sends a PLI upstream. Called by the hub on behalf of viewers and recorders.
func (s *source) RequestKeyframe() {
	s.mu.Lock()
	u := s.cur
	s.mu.Unlock()
	if u != nil {
		u.requestKeyframe()
	}
}

// Disconnect ends the pull (a kick through the streams API); it does not come back.
func (s *source) Disconnect() { s.cancel() }

// Status returns a snapshot.
func (s *source) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	if s.stream != nil {
		st.MediaSessionID = s.stream.ID()
	}
	st.Source, st.Endpoint, st.Resource = whip.RedactURL(st.Source), whip.RedactURL(st.Endpoint), whip.RedactURL(st.Resource)
	return st
}

func (s *source) update(f func(*Status)) {
	s.mu.Lock()
	f(&s.status)
	s.mu.Unlock()
}

func (s *source) settle() { s.settleOnce.Do(func() { close(s.settled) }) }

// run supervises the pull until ctx ends: attempt, and after each failure or end of session wait
// a backoff (capped, exponential, with jitter) before the next attempt.
func (s *source) run(ctx context.Context) {
	defer s.mgr.wg.Done()
	defer close(s.done)
	for {
		s.update(func(st *Status) {
			st.State, st.Since, st.NextAttempt, st.Resource = StateConnecting, time.Now(), time.Time{}, ""
		})
		err := s.mgr.play(ctx, s)
		if ctx.Err() != nil {
			break
		}
		s.mu.Lock()
		played := !s.status.Connected.IsZero() && s.status.State == StatePlaying
		stable := played && time.Since(s.status.Connected) >= s.mgr.cfg.StableAfter
		s.mu.Unlock()
		if stable {
			s.attempts = 0
		}
		if played {
			s.lostAt = time.Now() // the held stream's hold starts
		}
		s.attempts++
		delay := backoff(s.attempts, s.mgr.cfg.MinBackoff, s.mgr.cfg.MaxBackoff)
		s.update(func(st *Status) {
			st.State, st.Since, st.Attempts, st.LastError = StateRetrying, time.Now(), s.attempts, errText(err)
			st.NextAttempt, st.Resource = time.Now().Add(delay), ""
		})
		s.settle()
		level := slog.LevelDebug
		if s.attempts == 1 || s.attempts%10 == 0 { // not every retry of a long outage
			level = slog.LevelWarn
		}
		s.log.Log(ctx, level, "pull: upstream lost or unreachable; retrying", "attempt", s.attempts,
			"in", delay.Round(time.Millisecond), "err", err)
		if !s.sleep(ctx, delay) {
			break
		}
	}
	s.closeStream()
	s.update(func(st *Status) {
		st.State, st.Since, st.NextAttempt, st.Resource = StateStopped, time.Now(), time.Time{}, ""
	})
	s.settle()
	s.mgr.forget(s)
	s.log.Info("pull stopped")
}

// maxErrText bounds the last error shown for a pull: a reason, not a remote's page.
const maxErrText = 300

func errText(err error) string {
	if err == nil {
		return "the session ended"
	}
	msg := err.Error()
	if len(msg) > maxErrText {
		msg = strings.ToValidUTF8(msg[:maxErrText], "") + "…"
	}
	return msg
}

// sleep waits d, closing the held stream if Hold runs out meanwhile. It reports false when ctx
// ended.
func (s *source) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	var expire <-chan time.Time
	if s.holding() {
		h := time.NewTimer(time.Until(s.lostAt.Add(s.mgr.cfg.Hold)))
		defer h.Stop()
		expire = h.C
	}
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case <-expire:
			expire = nil
			s.log.Info("pull: upstream gone for too long; closing the local stream", "hold", s.mgr.cfg.Hold)
			s.closeStream()
		}
	}
}

func (s *source) holding() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stream != nil
}

func (s *source) closeStream() {
	s.mu.Lock()
	st := s.stream
	s.stream = nil
	s.mu.Unlock()
	if st != nil {
		st.Close()
	}
	s.outs, s.lostAt = nil, time.Time{}
}

// play runs one upstream session: dial, wait for the remote's tracks, attach them to the local
// stream, and forward until the session ends. It returns why it ended.
func (s *source) play(ctx context.Context) error {
	u, err := s.dial(ctx)
	if err != nil {
		return err
	}
	defer func() {
		s.mu.Lock()
		s.cur = nil
		s.mu.Unlock()
		u.close()
	}()
	s.update(func(st *Status) { st.Resource = u.resource.URL })
	got, err := u.awaitTracks(ctx)
	if err != nil {
		return err
	}
	ups, infos := trackInfos(got)
	if len(ups) == 0 {
		return errUnsupported
	}
	stream, err := s.attach(infos)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.cur = u
	s.mu.Unlock()
	u.start(stream, ups, s.outs)
	u.requestKeyframe()
	s.playing(u.resource.URL, infos)
	return u.wait(ctx)
}

// playing records that media flows into the local stream.
func (s *source) playing(resource string, infos []hub.TrackInfo) {
	s.lostAt = time.Time{}
	now := time.Now()
	s.update(func(st *Status) {
		st.State, st.Since, st.Connected, st.LastError, st.NextAttempt = StatePlaying, now, now, "", time.Time{}
		st.Sessions++
	})
	s.settle()
	s.log.Info("pull playing", "tracks", describe(infos), "resource", resource)
}

// attach returns the local stream for a new session's tracks: the held stream when the tracks
// are the same and Hold has not run out, else a new one.
func (s *source) attach(infos []hub.TrackInfo) (*hub.Stream, error) {
	s.mu.Lock()
	held := s.stream
	s.mu.Unlock()
	expired := !s.lostAt.IsZero() && time.Since(s.lostAt) > s.mgr.cfg.Hold
	if held != nil && !expired && sameTracks(held.Tracks(), infos) {
		for i, t := range infos {
			held.SetTrack(i, t)
			// The previous session's reports map another clock: wait for the new ones.
			held.SetSenderReport(i, hub.SenderReport{})
		}
		return held, nil
	}
	if held != nil {
		s.log.Info("pull: the remote's tracks changed or the hold ran out; replacing the local stream")
		s.closeStream()
	}
	stream, err := s.mgr.hub.Create(s.spec.Local, s)
	if err != nil {
		return nil, err
	}
	stream.SetTracks(infos)
	s.outs = make([]*trackOut, len(infos))
	for i, t := range infos {
		s.outs[i] = newTrackOut(t.ClockRate)
	}
	s.mu.Lock()
	s.stream = stream
	s.mu.Unlock()
	return stream, nil
}

func sameTracks(a, b []hub.TrackInfo) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Kind != b[i].Kind || a[i].Codec != b[i].Codec || a[i].ClockRate != b[i].ClockRate ||
			a[i].Channels != b[i].Channels {
			return false
		}
	}
	return true
}

func describe(tracks []hub.TrackInfo) []string {
	out := make([]string, len(tracks))
	for i, t := range tracks {
		out[i] = string(t.Kind) + ":" + string(t.Codec)
	}
	return out
}

// backoff is the wait before attempt n (1-based): min doubled n-1 times, capped at max, and then
// a random value between half of that and all of it.
func backoff(n int, minWait, maxWait time.Duration) time.Duration {
	d := minWait
	for i := 1; i < n && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	half := d / 2
	return half + rand.N(d-half+1) // jitter, not security: math/rand is right
}
