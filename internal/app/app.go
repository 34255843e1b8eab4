// Package app is the composition root: it builds every component from the configuration, wires
// them through their interfaces, runs them, and stops them in order (HTTP first, then sessions,
// then the media socket).
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"golang.org/x/net/netutil"
	"golang.org/x/sync/errgroup"

	"github.com/vigilrec/vigil/internal/api"
	"github.com/vigilrec/vigil/internal/auth"
	"github.com/vigilrec/vigil/internal/catalog"
	"github.com/vigilrec/vigil/internal/cluster"
	"github.com/vigilrec/vigil/internal/config"
	"github.com/vigilrec/vigil/internal/diskguard"
	"github.com/vigilrec/vigil/internal/egress"
	"github.com/vigilrec/vigil/internal/hook"
	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/ingest"
	"github.com/vigilrec/vigil/internal/pull"
	"github.com/vigilrec/vigil/internal/recorder"
	"github.com/vigilrec/vigil/internal/rtc"
	"github.com/vigilrec/vigil/internal/storage"
	"github.com/vigilrec/vigil/internal/tlsreload"
	"github.com/vigilrec/vigil/internal/upload"
	"github.com/vigilrec/vigil/internal/webhook"
)

// App is a configured server, listening but not yet serving.
type App struct {
	cfg    config.Config
	log    *slog.Logger
	httpLn net.Listener
	pprof  net.Listener // nil unless cfg.Pprof
	engine *rtc.Engine
	hub    *hub.Hub
	ingest *ingest.Manager
	egress *egress.Manager
	rec    *recorder.Manager
	store  *storage.Store
	cat    *catalog.Catalog
	hooks  *hook.Runner
	guard  *diskguard.Guard
	up     *upload.Uploader // nil without S3
	events *webhook.Dispatcher
	api    *api.Server
	pulls  *pull.Manager
	// refusals counts what the API's limits refused (for /metrics).
	refusals *api.Refusals
	// tls serves HTTPS when a certificate is configured.
	tls *tlsreload.Reloader
	// cluster is this node's membership and relays serve viewers of streams of other nodes; both
	// nil for a single node.
	cluster *cluster.Cluster
	relays  *relays
}

// New binds the HTTP and media ports and builds the components; unfinished segments left by a
// crash are repaired before anything else. A configuration that Check refuses is refused before
// anything is bound or created.
func New(cfg config.Config, log *slog.Logger) (*App, error) {
	if err := Check(cfg); err != nil {
		return nil, err
	}
	store, cat, err := openRecordings(cfg, log)
	if err != nil {
		return nil, err
	}
	engine, err := rtc.NewEngine(rtc.Config{
		UDPAddr: cfg.UDP, UDPReceiveBuffer: int(cfg.UDPReceiveBuffer),
		UDPReadInterval: cfg.UDPReadInterval.D(), NoDirectMedia: !cfg.UDPDirectMedia, PublicIPs: cfg.PublicIPs,
		DisconnectedTimeout: cfg.Sessions.DisconnectedTimeout.D(), FailedTimeout: cfg.Sessions.FailedTimeout.D(),
	}, log.With("component", "rtc"))
	if err != nil {
		_ = cat.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		_ = engine.Close()
		_ = cat.Close()
		return nil, fmt.Errorf("listen http %s: %w", cfg.HTTP, err)
	}
	pprofLn, err := listenPprof(cfg.Pprof)
	if err != nil {
		_ = ln.Close()
		_ = engine.Close()
		_ = cat.Close()
		return nil, err
	}
	h := hub.New(hub.Config{QueuePackets: cfg.Hub.QueuePackets, KeyframeInterval: cfg.Hub.KeyframeInterval.D(),
		HealthWindow: cfg.Metrics.DegradedWindow.D()})
	a := &App{cfg: cfg, log: log, httpLn: ln, pprof: pprofLn, engine: engine, hub: h, store: store, cat: cat}
	a.hooks = hook.New(hook.Config{Script: cfg.Record.OnRecordHookScript, Timeout: cfg.Record.HookTimeout.D()},
		log.With("component", "hook"))
	a.events = webhook.New(webhook.Config{URLs: cfg.Webhooks.URLs, Secret: cfg.Webhooks.Secret,
		Timeout: cfg.Webhooks.Timeout.D()}, eventStore{cat}, log.With("component", "webhook"))
	recCfg, err := recorderConfig(cfg.Record)
	var gcfg diskguard.Config
	if err == nil {
		gcfg, err = guardConfig(store.Dir(), cfg.Disk)
	}
	if err == nil && cfg.S3.Endpoint != "" {
		a.up, err = upload.New(upload.Config{Endpoint: cfg.S3.Endpoint, Bucket: cfg.S3.Bucket, Region: cfg.S3.Region,
			AccessKey: cfg.S3.AccessKey, SecretKey: cfg.S3.SecretKey, Secure: cfg.S3.Secure, KeyTemplate: cfg.S3.KeyTemplate,
			Node: cfg.S3.Node, Concurrency: cfg.S3.Concurrency, PartSize: int64(cfg.S3.PartSize),
			DeleteLocal: cfg.S3.DeleteLocalAfterUpload}, cat, uploadEvents{a.events}, log.With("component", "upload"))
		if err == nil {
			err = enqueueUnuploaded(cat, a.up)
		}
	}
	if err == nil {
		a.pulls, err = newPulls(cfg, h, log) // pull.go
	}
	if err == nil && cfg.TLS.Cert != "" {
		a.tls, err = tlsreload.New(cfg.TLS.Cert, cfg.TLS.Key, log.With("component", "tls"))
	}
	var authn *auth.Authenticator
	var authState string
	if err == nil {
		authn, authState, err = newAuth(cfg, ln.Addr(), log.With("component", "auth")) // auth.go
	}
	if err == nil { // its view of this node (clusterLocal) is read once the server runs
		a.cluster, err = newCluster(cfg, ln.Addr(), clusterLocal{a}, log.With("component", "cluster")) // cluster.go
	}
	if err != nil {
		_ = engine.Close()
		_ = cat.Close()
		_ = ln.Close()
		if pprofLn != nil {
			_ = pprofLn.Close()
		}
		return nil, err
	}
	events := segmentEvents{cat: cat, hooks: a.hooks, up: a.up, webhooks: a.events, log: log.With("component", "catalog")}
	a.rec = recorder.NewManager(recCfg, h, sink{store}, events, log.With("component", "recorder"))
	a.guard = diskguard.New(gcfg, guardCatalog{cat: cat, webhooks: a.events}, guardRecorder{a.rec}, diskEvents{a.events},
		log.With("component", "disk"))
	a.rec.SetGuard(refuseWhenLow(a.guard))
	a.ingest = ingest.NewManager(ingest.Config{ConnectTimeout: cfg.Sessions.ConnectTimeout.D()}, engine, h,
		log.With("component", "ingest"))
	a.egress = egress.NewManager(egress.Config{ConnectTimeout: cfg.Sessions.ConnectTimeout.D()}, engine.API(), h,
		log.With("component", "egress"))
	a.refusals = api.NewRefusals()
	metricsHandler, health := a.setupMetrics() // metrics.go
	var clusterDep api.Cluster
	var relayDep api.Relay
	if a.cluster != nil {
		clusterDep = a.cluster
		a.relays = newRelays(a.pulls, h, a.egress, log.With("component", "relay"))
		relayDep = a.relays
		a.rec.SetSkip(a.relays.Is)
	}
	a.api = api.New(api.Deps{
		Publish: publishService{a.ingest}, Play: playService{a.egress},
		Streams: streamsView{h, a.relays}, Stats: serverStats{a}, Log: log.With("component", "api"),
		Recorder: a.rec, Recordings: recordings{cat: cat, up: a.up, webhooks: a.events},
		Storage: storageStatus{a}, Pulls: pullService{a}, PlaybackMaxRange: cfg.Playback.MaxRange.D(),
		Metrics: metricsHandler, Health: health,
		CORS: api.CORS{API: cfg.CORS.APIOrigins, Media: cfg.CORS.MediaOrigins},
		Auth: authn, AuthState: authState,
		Limits: api.Limits{Publishers: cfg.Limits.Publishers, Viewers: cfg.Limits.Viewers,
			ViewersPerStream: cfg.Limits.ViewersPerStream, SDPBytes: int(cfg.Limits.SDPBytes),
			MediaSections: cfg.Limits.MediaSections, Candidates: cfg.Limits.Candidates,
			OffersPerSecond: float64(cfg.Limits.OffersPerSecond), OfferBurst: cfg.Limits.OfferBurst},
		Occupancy: viewerCounts{a.egress}, Refusals: a.refusals,
		Cluster: clusterDep, Relay: relayDep,
	})
	return a, nil
}

func openRecordings(cfg config.Config, log *slog.Logger) (*storage.Store, *catalog.Catalog, error) {
	fileMode, err := config.ParseMode(cfg.Record.FileMode)
	if err != nil {
		return nil, nil, fmt.Errorf("record.file_mode: %w", err)
	}
	dirMode, err := config.ParseMode(cfg.Record.DirMode)
	if err != nil {
		return nil, nil, fmt.Errorf("record.dir_mode: %w", err)
	}
	store, err := storage.New(storage.Config{Dir: cfg.Dir, Fsync: storage.FsyncPolicy(cfg.Record.Fsync),
		Interval: cfg.Record.FsyncInterval.D(), PageCache: storage.PageCache(cfg.Record.PageCache), FileMode: fileMode, DirMode: dirMode}, log.With("component", "storage"))
	if err != nil {
		return nil, nil, err
	}
	path := cfg.Record.Catalog
	if path == "" {
		path = filepath.Join(store.Dir(), ".vigil-catalog.db")
	}
	cat, err := catalog.Open(path)
	if err != nil {
		return nil, nil, err
	}
	recoverSegments(store, cat, log.With("component", "storage"))
	if err := rebuildCatalog(store, cat, log.With("component", "catalog")); err != nil {
		log.Error("catalog: rebuild from disk", "err", err)
	}
	return store, cat, nil
}

// recorderConfig turns the record settings into the recorder's, reporting every bad one.
func recorderConfig(c config.RecordConfig) (recorder.Config, error) {
	var errs []error
	formats, err := recorder.ParseFormats(c.Formats)
	if err != nil {
		errs = append(errs, fmt.Errorf("record.formats: %w", err))
	}
	rot, err := recorder.ParseRotation(c.Rotation)
	if err != nil {
		errs = append(errs, fmt.Errorf("record.rotation: %w", err))
	}
	if err := recorder.ValidateTemplate(c.Template); err != nil {
		errs = append(errs, fmt.Errorf("record.template: %q: %w", c.Template, err))
	}
	if err := errors.Join(errs...); err != nil {
		return recorder.Config{}, err
	}
	return recorder.Config{Formats: formats, Rotation: rot, Template: c.Template, Preroll: c.Preroll,
		Grace: c.Grace.D(), FragmentDuration: c.Fragment.D(), Auto: recorder.AutoMode(c.Auto),
		Patterns: c.Streams}, nil
}

// HTTPAddr is the bound HTTP address.
func (a *App) HTTPAddr() net.Addr { return a.httpLn.Addr() }

// UDPAddr is the bound media address.
func (a *App) UDPAddr() *net.UDPAddr { return a.engine.LocalAddr() }

// Hub exposes the stream registry (tests subscribe to it directly).
func (a *App) Hub() *hub.Hub { return a.hub }

// Run serves until ctx ends, then shuts down within the configured grace period: the HTTP
// server, then the recordings (while their streams still flow, so every file is final), then
// the sessions, then the background work. A component that fails while serving stops the server:
// its error is logged and returned. Every wait is bounded by the one grace period; a component
// still running when it is over is named in the returned error, not waited for.
func (a *App) Run(ctx context.Context) error {
	// No write timeout: a download of a long recording may take as long as it takes.
	srv := &http.Server{Handler: a.api, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: a.cfg.Limits.HTTPReadTimeout.D(), IdleTimeout: a.cfg.Limits.HTTPIdleTimeout.D()}
	failed := make(chan error, 16)
	membership := startStage("cluster", failed, map[string]func(context.Context) error{"cluster": a.runCluster})
	sessions := startStage("sessions", failed, map[string]func(context.Context) error{
		"ingest": a.ingest.Run, "egress": a.egress.Run, "pulls": a.pulls.Run, "relays": a.runRelays})
	recordings := startStage("recordings", failed, map[string]func(context.Context) error{"recorder": a.rec.Run})
	background := startStage("background", failed, map[string]func(context.Context) error{
		"hooks": a.hooks.Run, "disk guard": a.guard.Run, "events": a.events.Run, "uploads": a.runUploads,
		"pprof": a.runPprof})
	ln := a.httpLn
	if n := a.cfg.Limits.HTTPConnections; n > 0 {
		ln = netutil.LimitListener(ln, n) // beyond it, connections wait in the kernel's backlog
	}
	if a.tls != nil {
		ln = tls.NewListener(ln, a.tls.Config())
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			failed <- fmt.Errorf("http server: %w", err)
		}
	}()
	a.api.SetReady(true)
	a.log.Info("vigil is serving", "http", a.HTTPAddr().String(), "udp", a.UDPAddr().String(), "dir", a.cfg.Dir)

	var errs []error
	select {
	case <-ctx.Done():
	case err := <-failed:
		a.log.Error("stopping: a component failed", "err", err)
		errs = append(errs, err)
	}
	a.api.SetReady(false)
	a.log.Info("shutting down", "grace", a.cfg.ShutdownGrace.D())
	grace, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownGrace.D())
	defer cancel()
	// Leave the cluster first, so no publisher is placed here while the rest stops.
	errs = append(errs, membership.stop(grace))
	if err := srv.Shutdown(grace); err != nil && !errors.Is(err, http.ErrServerClosed) {
		a.log.Warn("http shutdown", "err", err)
	}
	errs = append(errs, recordings.stop(grace), sessions.stop(grace))
	if err := a.engine.Close(); err != nil {
		a.log.Warn("close media socket", "err", err)
	}
	bgErr := background.stop(grace)
	errs = append(errs, bgErr)
	if !errors.Is(bgErr, errStillRunning) { // the catalog would wait for its writers
		if err := a.cat.Close(); err != nil {
			a.log.Warn("close catalog", "err", err)
		}
	}
drain:
	for {
		select {
		case err := <-failed:
			errs = append(errs, err)
		default:
			break drain
		}
	}
	a.log.Info("stopped")
	return errors.Join(errs...)
}

var errStillRunning = errors.New("still running after the shutdown grace period")

// stage is components started together and stopped together.
type stage struct {
	name   string
	group  errgroup.Group
	cancel context.CancelFunc
}

// startStage runs each component until its stage is stopped. An error while the stage runs is
// sent to failed (and so stops the server); an error after is returned by stop.
func startStage(name string, failed chan<- error, runs map[string]func(context.Context) error) *stage {
	ctx, cancel := context.WithCancel(context.Background())
	st := &stage{name: name, cancel: cancel}
	for component, run := range runs {
		st.group.Go(func() error {
			err := run(ctx)
			if err == nil || errors.Is(err, context.Canceled) {
				return nil
			}
			err = fmt.Errorf("%s: %w", component, err)
			if ctx.Err() == nil {
				select {
				case failed <- err:
				default: // the server is already stopping
				}
				return nil
			}
			return err
		})
	}
	return st
}

// stop ends the stage's components and waits for them until grace ends.
func (st *stage) stop(grace context.Context) error {
	st.cancel()
	done := make(chan error, 1)
	go func() { done <- st.group.Wait() }()
	select {
	case err := <-done:
		return err
	case <-grace.Done():
		return fmt.Errorf("%s: %w", st.name, errStillRunning)
	}
}

func (a *App) runPprof(ctx context.Context) error {
	if a.pprof == nil {
		return nil
	}
	return servePprof(ctx, a.pprof)
}

func (a *App) runCluster(ctx context.Context) error {
	if a.cluster == nil {
		return nil
	}
	return a.cluster.Run(ctx)
}

func (a *App) runRelays(ctx context.Context) error {
	if a.relays == nil {
		return nil
	}
	return a.relays.Run(ctx)
}

func (a *App) runUploads(ctx context.Context) error {
	if a.up == nil {
		return nil
	}
	return a.up.Run(ctx)
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
