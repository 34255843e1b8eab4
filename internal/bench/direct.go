package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/vigilrec/vigil/internal/publish"
	"github.com/vigilrec/vigil/internal/whip"
)

// directTopology publishes N WHIP streams straight into one server: bench's own vigil with
// record.auto all, or any WHIP server given by a URL template.
type directTopology struct {
	server   *node
	template string
}

var _ topology = (*directTopology)(nil)

func (d *directTopology) setup(ctx context.Context, r *runner) error {
	if r.cfg.Target != "" {
		u, err := url.Parse(strings.ReplaceAll(r.cfg.Target, "{name}", "x"))
		if err != nil || u.Host == "" {
			return fmt.Errorf("%w: --target %q: not a URL", ErrConfig, r.cfg.Target)
		}
		d.server = &node{role: "server", api: nodeAPI{base: u.Scheme + "://" + u.Host, http: r.http}, pid: r.cfg.ServerPID,
			dir: r.cfg.Files}
		d.server.vigil = d.server.api.isVigil(ctx)
		d.template = r.cfg.Target
		r.nodes = append(r.nodes, d.server)
		return nil
	}
	extra := []string{"--record-auto", "all", "--record-grace", "0s"}
	if r.cfg.Rotation != "" {
		extra = append(extra, "--record-rotation", r.cfg.Rotation)
	}
	n, err := r.ownNode(ctx, "server", extra...)
	if err != nil {
		return err
	}
	d.server, d.template = n, n.api.base+"/whip/{name}"
	return nil
}

// startStream publishes s.name; on a vigil server it waits until the stream is recorded.
func (d *directTopology) startStream(ctx context.Context, r *runner, s *streamRun) error {
	endpoint := strings.ReplaceAll(d.template, "{name}", s.name)
	pub, err := publish.Start(ctx, publish.Options{Endpoint: endpoint, Video: r.video, Audio: r.audio, API: r.api, Log: r.cfg.Log})
	if err != nil {
		return fmt.Errorf("publish to %s: %w", endpoint, err)
	}
	s.pub = pub
	if !d.server.vigil {
		return nil
	}
	return poll(ctx, 90*time.Second, 200*time.Millisecond, func() (bool, error) {
		return d.server.api.recording(ctx, s.name), nil
	}, s.name+" recorded")
}

// stopStreams ends every publisher at once (DELETE on each WHIP resource): the server ends the
// recordings.
func (d *directTopology) stopStreams(ctx context.Context, r *runner) []error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, s := range r.streams {
		if s.pub == nil {
			continue
		}
		select {
		case <-s.pub.Failed():
			s.dropped = "its WHIP session ended before the stop"
		default:
		}
		wg.Go(func() {
			err := s.pub.Close(ctx)
			var st *whip.StatusError
			if errors.As(err, &st) && st.Code == http.StatusNotFound {
				err = nil // the server had ended the session already; judged by the stream's result
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: end WHIP session: %w", s.name, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errs
}

func (d *directTopology) close(context.Context, *runner) {}

// broken is never true: each publisher's fate is its own stream's.
func (d *directTopology) broken() string { return "" }
