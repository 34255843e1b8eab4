package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/vigilrec/vigil/internal/publish"
)

// remoteName is the stream bench publishes to the origin.
const remoteName = "bench"

// pullTopology is the brief's: one stream published to an origin, pulled N times into a
// recorder through the Web Call Server API, recorded with find + startRecording.
type pullTopology struct {
	origin, recorder *node
	pub              *publish.Session
}

var _ topology = (*pullTopology)(nil)

func (p *pullTopology) setup(ctx context.Context, r *runner) error {
	if r.cfg.Origin != "" {
		p.origin = &node{role: "origin", api: nodeAPI{base: strings.TrimRight(r.cfg.Origin, "/"), http: r.http}, vigil: true}
		p.recorder = &node{role: "recorder", api: nodeAPI{base: strings.TrimRight(r.cfg.Recorder, "/"), http: r.http},
			pid: r.cfg.ServerPID, dir: r.cfg.Files, vigil: true}
		r.nodes = append(r.nodes, p.origin, p.recorder)
	} else {
		var err error
		if p.origin, err = r.ownNode(ctx, "origin"); err != nil {
			return err
		}
		if p.recorder, err = r.ownNode(ctx, "recorder"); err != nil {
			return err
		}
	}
	r.measured = 1
	pctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	endpoint := p.origin.api.base + "/whip/" + remoteName
	pub, err := publish.Start(pctx, publish.Options{Endpoint: endpoint, Video: r.video, Audio: r.audio, API: r.api, Log: r.cfg.Log})
	if err != nil {
		return fmt.Errorf("publish to the origin %s: %w", endpoint, err)
	}
	p.pub = pub
	return poll(pctx, time.Minute, 100*time.Millisecond, func() (bool, error) {
		return p.origin.api.streamPublishing(pctx, remoteName), nil
	}, "the published stream on the origin")
}

// startStream pulls the origin's stream as s.name, then starts its recording the way the
// brief's script does: stream/find until published, then stream/startRecording.
func (p *pullTopology) startStream(ctx context.Context, r *runner, s *streamRun) error {
	if err := p.recorder.api.pull(ctx, p.origin.api.base, remoteName, s.name); err != nil {
		return fmt.Errorf("pull: %w", err)
	}
	err := poll(ctx, 90*time.Second, 200*time.Millisecond, func() (bool, error) {
		id, err := p.recorder.api.find(ctx, s.name)
		s.mediaSessionID = id
		return id != "", err
	}, s.name+" published on the recorder")
	if err != nil {
		return err
	}
	if err := p.recorder.api.startRecording(ctx, s.mediaSessionID, r.cfg.Rotation); err != nil {
		return fmt.Errorf("start recording: %w", err)
	}
	return nil
}

// stopStreams sends every stopRecording at once, as a script looping with `&` does.
func (p *pullTopology) stopStreams(ctx context.Context, r *runner) []error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, s := range r.streams {
		if s.err != nil || s.mediaSessionID == "" {
			continue
		}
		wg.Go(func() {
			if err := p.stopOne(ctx, s); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errs
}

// stopOne stops s's recording. A stream that came back after its pull reconnected has a new
// mediaSessionId: on 404 the stream is found again by name, as a script's stop loop would.
func (p *pullTopology) stopOne(ctx context.Context, s *streamRun) error {
	err := p.recorder.api.stopRecording(ctx, s.mediaSessionID)
	if !errors.Is(err, errNotFound) {
		return err
	}
	id, ferr := p.recorder.api.find(ctx, s.name)
	if ferr != nil || id == "" || id == s.mediaSessionID {
		return err
	}
	s.mediaSessionID = id
	return p.recorder.api.stopRecording(ctx, id)
}

// close stops publishing; on servers bench did not start it also ends the pulls.
func (p *pullTopology) close(ctx context.Context, r *runner) {
	if p.recorder.cmd == nil {
		for _, s := range r.streams {
			_ = p.recorder.api.terminatePull(ctx, s.name)
		}
	}
	if p.pub != nil {
		_ = p.pub.Close(ctx)
	}
}

func (p *pullTopology) broken() string {
	if p.pub == nil {
		return ""
	}
	select {
	case <-p.pub.Failed():
		return "bench's publisher to the origin lost its connection: every pulled stream lost its source"
	default:
		return ""
	}
}
