package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/vigilrec/vigil/internal/config"
	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/pull"
	"github.com/vigilrec/vigil/internal/recorder"
)

// newPulls builds the pull manager with the configured pulls, which it starts when it runs. A bad
// or duplicated configured pull fails the start of the server.
func newPulls(cfg config.Config, h *hub.Hub, log *slog.Logger) (*pull.Manager, error) {
	static, err := pullSpecs(cfg)
	if err != nil {
		return nil, err
	}
	m, err := pull.NewManager(pull.Config{Static: static, AllowedSources: cfg.Pull.AllowedSources,
		MaxPulls: cfg.Pull.MaxPulls}, h, log.With("component", "pull"))
	if err != nil {
		return nil, fmt.Errorf("pulls: %w", err)
	}
	return m, nil
}

// pullSpecs expands the configured pulls, reporting every bad one.
func pullSpecs(cfg config.Config) ([]pull.Spec, error) {
	var static []pull.Spec
	var errs []error
	seen := map[string]bool{}
	for i, p := range cfg.Pulls {
		specs, err := pull.Expand(p.Source, p.Remote, p.Local, p.Qty)
		if err != nil {
			errs = append(errs, fmt.Errorf("pulls[%d]: %w", i, err))
			continue
		}
		for _, sp := range specs {
			if seen[sp.Local] {
				errs = append(errs, fmt.Errorf("pulls[%d]: %w: %s is pulled twice", i, pull.ErrExists, sp.Local))
				break
			}
			seen[sp.Local] = true
		}
		static = append(static, specs...)
	}
	return static, errors.Join(errs...)
}

// pullService gives the API the pull manager, and ends a terminated pull's recording with it.
type pullService struct{ a *App }

func (p pullService) Start(ctx context.Context, specs []pull.Spec) ([]pull.Status, error) {
	return p.a.pulls.Start(ctx, specs)
}

func (p pullService) List() []pull.Status { return p.a.pulls.List() }

func (p pullService) Get(local string) (pull.Status, error) { return p.a.pulls.Get(local) }

// Stop ends the pull, which closes its local stream; the stream's recording then closes its file,
// and an automatic one, which would wait for the stream to come back, is ended too. It returns
// once every file is final.
func (p pullService) Stop(ctx context.Context, local string) (pull.Status, error) {
	st, err := p.a.pulls.Stop(ctx, local)
	if err != nil {
		return st, err
	}
	if _, err := p.a.rec.StopStream(ctx, local); err != nil && !errors.Is(err, recorder.ErrNotRecording) {
		return st, err
	}
	return st, nil
}
