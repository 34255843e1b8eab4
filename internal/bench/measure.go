package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// maxStarting bounds the streams being brought up at once.
const maxStarting = 16

// errNotStarted marks the streams left out because the run was interrupted or a node died.
var errNotStarted = errors.New("not started: the run was interrupted or a node died")

// measure samples the nodes from now until the recordings are stopped: ramp, hold for the
// duration (or until a node dies or ctx ends), stop.
func (r *runner) measure(ctx context.Context) {
	r.smp = newSampler(r.nodes, r.measured, r.http, r.start)
	sctx, stopSampling := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { r.smp.Run(sctx) })
	wg.Go(func() { r.showStatus(sctx) })

	r.setPhase("ramp")
	r.ramp(ctx)
	r.mu.Lock()
	r.rep.WindowStart = time.Since(r.start).Seconds()
	r.mu.Unlock()
	r.setPhase("recording")
	r.hold(ctx)
	r.rep.WindowEnd = time.Since(r.start).Seconds()

	r.setPhase("stopping")
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	r.stop(stopCtx)
	// One more second of samples after the stop, then the view stops.
	time.Sleep(r.smp.interval)
	stopSampling()
	wg.Wait()
	r.view.done()
	for _, n := range r.nodes { // before a restart changes a PID
		r.rep.Nodes = append(r.rep.Nodes, n.info())
	}
	r.topo.close(stopCtx, r)
}

// stop ends the recordings the topology's way and measures how long until every file is final.
// With the measured node down there is nothing to ask.
func (r *runner) stop(ctx context.Context) {
	if i, _ := r.downNode(); i == r.measured {
		r.event("stop calls not sent: the %s node is down", r.nodes[i].role)
		return
	}
	for _, s := range r.streams {
		if s.pub != nil {
			s.sentBytes = s.pub.Stats().MediaBytes
		}
	}
	t0 := time.Now()
	errs := r.topo.stopStreams(ctx, r)
	for _, err := range errs {
		r.rep.Failures = append(r.rep.Failures, "stop: "+err.Error())
	}
	r.waitFinal(ctx)
	r.rep.Figures.Finalize = time.Since(t0).Seconds()
	r.event("stop calls returned (%d failed) and files final %.2f s after the first stop call", len(errs), r.rep.Figures.Finalize)
}

// ramp starts the streams spread over cfg.Ramp, at most maxStarting at a time, and returns once
// each has started or failed (or a node died, or ctx ended).
func (r *runner) ramp(ctx context.Context) {
	r.view.say("starting %d streams (%s topology, %s %s)…", len(r.streams), r.cfg.Topology, r.cfg.Codec, r.cfg.Profile)
	sem := make(chan struct{}, maxStarting)
	var wg sync.WaitGroup
	step := r.cfg.Ramp / time.Duration(len(r.streams))
	begin := time.Now()
	for i, s := range r.streams {
		if step > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(time.Until(begin.Add(time.Duration(i) * step))):
			}
		}
		if ctx.Err() != nil || r.nodeDown() != "" {
			s.err = errNotStarted
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			s.err = errNotStarted
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			if err := r.topo.startStream(sctx, r, s); err != nil {
				s.err = err
				return
			}
			r.mu.Lock()
			r.started++
			r.mu.Unlock()
		})
	}
	wg.Wait()
	var failed int
	for _, s := range r.streams {
		if s.err != nil {
			failed++
			r.view.say("%s: %v", s.name, s.err)
		}
	}
	r.event("%d of %d streams recording", len(r.streams)-failed, len(r.streams))
}

// hold waits cfg.Duration, or until a node dies or ctx ends.
func (r *runner) hold(ctx context.Context) {
	end := time.NewTimer(r.cfg.Duration)
	defer end.Stop()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.event("interrupted: stopping early")
			return
		case <-end.C:
			return
		case <-t.C:
			what := r.nodeDown()
			if what == "" {
				what = r.topo.broken()
			}
			if what != "" {
				r.event("%s", what)
				r.rep.Failures = append(r.rep.Failures, what)
				return
			}
		}
	}
}

// nodeDown says which node is gone: a child that exited, or a server that has not answered
// for 5 samples in a row.
func (r *runner) nodeDown() string {
	_, what := r.downNode()
	return what
}

// downNode is nodeDown with the index of the node in r.nodes (-1 when all are up).
func (r *runner) downNode() (int, string) {
	for i, n := range r.nodes {
		if ch := n.down(); ch != nil {
			select {
			case <-ch:
				return i, fmt.Sprintf("%s node (pid %d) died: %v", n.role, n.pid, n.exitErr)
			default:
				continue
			}
		}
		if r.smp == nil {
			continue
		}
		samples := r.smp.recent(5)
		if len(samples) < 5 {
			continue
		}
		down := true
		for _, s := range samples {
			down = down && !s.Nodes[i].Up
		}
		if down {
			if n.pid > 0 {
				return i, fmt.Sprintf("%s (pid %d) is gone", n.role, n.pid)
			}
			return i, fmt.Sprintf("%s %s stopped answering", n.role, n.api.base)
		}
	}
	return -1, ""
}

// waitFinal waits until the measured node's directory holds no .part file (up to 2 minutes).
func (r *runner) waitFinal(ctx context.Context) {
	dir := r.nodes[r.measured].dir
	if r.cfg.Files != "" {
		dir = r.cfg.Files
	}
	if dir == "" || r.nodeDown() != "" {
		return
	}
	err := poll(ctx, 2*time.Minute, 50*time.Millisecond, func() (bool, error) {
		return len(partFiles(dir)) == 0, nil
	}, "every file to be final")
	if err != nil {
		r.rep.Failures = append(r.rep.Failures, fmt.Sprintf("files not final: %v: %v", err, partFiles(dir)))
	}
}

func (r *runner) showStatus(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sample, ok := r.smp.latest()
		if !ok {
			continue
		}
		r.mu.Lock()
		st := status{phase: r.phase, streams: len(r.streams), started: r.started, sample: sample, measured: r.measured,
			elapsed: time.Since(r.start), remaining: r.cfg.Duration}
		if ws := r.rep.WindowStart; ws > 0 {
			st.remaining = max(0, time.Duration((ws+r.cfg.Duration.Seconds()-st.elapsed.Seconds())*float64(time.Second)))
		}
		r.mu.Unlock()
		for _, n := range r.nodes {
			st.nodes = append(st.nodes, n.info())
		}
		r.view.show(st)
	}
}
