// Package app is the composition root: it builds every component from the configuration, wires
// them through their interfaces, runs them, and stops them in order (HTTP first, then sessions,
// then the media socket).
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/vigilrec/vigil/internal/api"
	"github.com/vigilrec/vigil/internal/config"
	"github.com/vigilrec/vigil/internal/egress"
	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/ingest"
	"github.com/vigilrec/vigil/internal/rtc"
)

// App is a configured server, listening but not yet serving.
type App struct {
	cfg    config.Config
	log    *slog.Logger
	httpLn net.Listener
	engine *rtc.Engine
	hub    *hub.Hub
	ingest *ingest.Manager
	egress *egress.Manager
	api    *api.Server
}

// New binds the HTTP and media ports and builds the components.
func New(cfg config.Config, log *slog.Logger) (*App, error) {
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create recordings directory %s: %w", cfg.Dir, err)
	}
	engine, err := rtc.NewEngine(rtc.Config{
		UDPAddr: cfg.UDP, UDPReceiveBuffer: int(cfg.UDPReceiveBuffer), PublicIPs: cfg.PublicIPs,
		DisconnectedTimeout: cfg.Sessions.DisconnectedTimeout.D(), FailedTimeout: cfg.Sessions.FailedTimeout.D(),
	}, log.With("component", "rtc"))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		_ = engine.Close()
		return nil, fmt.Errorf("listen http %s: %w", cfg.HTTP, err)
	}
	h := hub.New(hub.Config{QueuePackets: cfg.Hub.QueuePackets, KeyframeInterval: cfg.Hub.KeyframeInterval.D()})
	a := &App{cfg: cfg, log: log, httpLn: ln, engine: engine, hub: h}
	a.ingest = ingest.NewManager(ingest.Config{ConnectTimeout: cfg.Sessions.ConnectTimeout.D()}, engine, h,
		log.With("component", "ingest"))
	a.egress = egress.NewManager(egress.Config{ConnectTimeout: cfg.Sessions.ConnectTimeout.D()}, engine.API(), h,
		log.With("component", "egress"))
	a.api = api.New(api.Deps{
		Publish: publishService{a.ingest}, Play: playService{a.egress},
		Streams: h, Stats: serverStats{a}, Log: log.With("component", "api"),
	})
	return a, nil
}

// HTTPAddr is the bound HTTP address.
func (a *App) HTTPAddr() net.Addr { return a.httpLn.Addr() }

// UDPAddr is the bound media address.
func (a *App) UDPAddr() *net.UDPAddr { return a.engine.LocalAddr() }

// Hub exposes the stream registry (tests subscribe to it directly).
func (a *App) Hub() *hub.Hub { return a.hub }

// Run serves until ctx ends, then shuts down gracefully within the configured grace period.
func (a *App) Run(ctx context.Context) error {
	srv := &http.Server{Handler: a.api, ReadHeaderTimeout: 10 * time.Second}
	sessCtx, stopSessions := context.WithCancel(context.Background())
	defer stopSessions()
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{a.ingest.Run, a.egress.Run} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = run(sessCtx)
		}()
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(a.httpLn) }()
	a.api.SetReady(true)
	a.log.Info("vigil is serving", "http", a.HTTPAddr().String(), "udp", a.UDPAddr().String(), "dir", a.cfg.Dir)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("http server: %w", err)
	}
	a.api.SetReady(false)
	a.log.Info("shutting down")
	grace, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownGrace.D())
	defer cancel()
	if err := srv.Shutdown(grace); err != nil && !errors.Is(err, http.ErrServerClosed) {
		a.log.Warn("http shutdown", "err", err)
	}
	stopSessions()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-grace.Done():
		a.log.Warn("sessions did not end within the shutdown grace period")
		<-done
	}
	if err := a.engine.Close(); err != nil {
		a.log.Warn("close media socket", "err", err)
	}
	a.log.Info("stopped")
	return runErr
}

// publishService and playService give ingest and egress the API's session interface.
type publishService struct{ m *ingest.Manager }

func (p publishService) Negotiate(ctx context.Context, name, offer string) (string, string, error) {
	return p.m.Publish(ctx, name, offer)
}

func (p publishService) Stop(ctx context.Context, name, id string) error {
	return p.m.Stop(ctx, name, id)
}

type playService struct{ m *egress.Manager }

func (p playService) Negotiate(ctx context.Context, name, offer string) (string, string, error) {
	return p.m.Play(ctx, name, offer)
}

func (p playService) Stop(ctx context.Context, name, id string) error { return p.m.Stop(ctx, name, id) }

type serverStats struct{ a *App }

func (s serverStats) Viewers() int                    { return s.a.egress.Count() }
func (s serverStats) UDPStats() (rtc.UDPStats, error) { return s.a.engine.UDPStats() }
