// Package config defines vigil's settings, their built-in defaults, and how they are loaded: a
// YAML file, then VIGIL_* environment variables, then command-line flags, each overriding the one
// before. Only cli and app import it; every component receives its own small Config.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// Config is every setting of the server. Field comments are the reference; docs/configuration.md
// and config.example.yaml repeat them for operators, and tests keep the three in step.
type Config struct {
	// HTTP is the listen address of the HTTP server: WHIP, WHEP, REST APIs and health checks.
	HTTP string `yaml:"http"`
	// TLS makes that server speak HTTPS.
	TLS TLSConfig `yaml:"tls"`
	// UDP is the one UDP address that carries the WebRTC media of every session (ICE UDP mux).
	UDP string `yaml:"udp"`
	// Dir is the recordings directory.
	Dir string `yaml:"dir"`
	// PublicIPs are the addresses announced to peers instead of the host's own addresses (NAT 1:1), for cloud
	// hosts whose public address is not on an interface. Empty: announce local addresses.
	PublicIPs []string `yaml:"public_ips"`
	// UDPReceiveBuffer is the kernel receive buffer asked for on the media socket.
	UDPReceiveBuffer ByteSize `yaml:"udp_receive_buffer"`
	// UDPReadInterval is the pause between two batched reads of the media socket. Longer pauses
	// mean bigger batches and less CPU per packet, at the cost of that much added latency; the
	// receive buffer must hold one interval of traffic. 0 reads as soon as a datagram arrives.
	// Default 10ms.
	UDPReadInterval Duration `yaml:"udp_read_interval"`
	// UDPDirectMedia decrypts publishers' media where the media socket is read, instead of
	// passing it through pion's receive stack (a third of the CPU at 100 streams). false keeps
	// everything on pion's path. Default true.
	UDPDirectMedia bool `yaml:"udp_direct_media"`
	// ShutdownGrace bounds how long a graceful stop waits for sessions to end.
	ShutdownGrace Duration `yaml:"shutdown_grace"`
	// Pprof is a listen address for Go's profiling endpoints (/debug/pprof/), on a listener of
	// its own. Empty (the default) turns them off; bind it to loopback.
	Pprof string `yaml:"pprof"`
	// GCPercent is the garbage collector's target (GOGC): how far the heap may grow over live
	// data before a collection. Lower takes less memory for more collections; the GOGC
	// environment variable, when set, wins.
	GCPercent int `yaml:"gc_percent"`

	Log      LogConfig      `yaml:"log"`
	Sessions SessionsConfig `yaml:"sessions"`
	Hub      HubConfig      `yaml:"hub"`
	Record   RecordConfig   `yaml:"record"`
	Disk     DiskConfig     `yaml:"disk"`
	S3       S3Config       `yaml:"s3"`
	Webhooks WebhooksConfig `yaml:"webhooks"`
	Metrics  MetricsConfig  `yaml:"metrics"`
	// Pulls are remote streams pulled from the start (docs/pull.md). Default: none.
	Pulls Pulls `yaml:"pulls"`
	// Pull bounds every pull, configured or asked for through the API.
	Pull PullConfig `yaml:"pull"`
	// Playback bounds exports of a time range (docs/playback.md).
	Playback PlaybackConfig `yaml:"playback"`
	// CORS lists the other origins whose pages may call vigil.
	CORS CORSConfig `yaml:"cors"`
	// Auth is who may do what (docs/security.md).
	Auth AuthConfig `yaml:"auth"`
	// Limits bound what clients may ask for (docs/security.md); 0 is no bound.
	Limits LimitsConfig `yaml:"limits"`
	// Cluster joins this node to the others sharing one Redis (docs/cluster.md).
	Cluster ClusterConfig `yaml:"cluster"`
}

// ClusterConfig makes the nodes that share one Redis a cluster: publishers are placed by load and
// every node finds every stream (docs/cluster.md).
type ClusterConfig struct {
	// Redis is the URL of the Redis server holding the node registry and the stream directory,
	// redis://[:password@]host:port[/db] (rediss:// over TLS). Empty: this node stands alone.
	Redis string `yaml:"redis"`
	// Node is this node's name in the cluster. Empty: s3.node, else the host name.
	Node string `yaml:"node"`
	// URL is where clients and the other nodes reach this node's HTTP server
	// (http://10.0.0.5:8081); publishers placed here are redirected to it. Empty: the first of
	// public_ips, else the host name, with the HTTP port.
	URL string `yaml:"url"`
	// Heartbeat is how often this node refreshes its entries: its load and its streams.
	Heartbeat Duration `yaml:"heartbeat"`
	// TTL is how long an entry outlives its last refresh: a node that stops refreshing (killed,
	// cut off) leaves the registry, and its streams the directory, this long after.
	TTL Duration `yaml:"ttl"`
	// Affinity pins stream names to nodes, PATTERN=NODE (cam-lobby-*=rec-1): a new publisher of
	// a matching name goes to that node while it is alive, whatever the load; the first match wins.
	Affinity []string `yaml:"affinity"`
}

// RecordConfig is how streams are recorded.
type RecordConfig struct {
	// Auto is the record policy: none (only on request), all, or match (names in streams).
	Auto string `yaml:"auto"`
	// Streams are glob patterns (path.Match) of names recorded when auto is match.
	Streams []string `yaml:"streams"`
	// Formats maps video codecs to containers, like record_formats: "h264-mp4,vp8-webm".
	Formats string `yaml:"formats"`
	// Rotation cuts recordings into segments: a duration ("20s", or "20" for seconds), a size
	// ("10M"), or "off" (also "0") for one file per recording.
	Rotation string `yaml:"rotation"`
	// Template names segment files; placeholders are listed in docs/recording.md.
	Template string `yaml:"template"`
	// FileMode is the octal permissions of new segment files (the process umask applies too).
	FileMode string `yaml:"file_mode"`
	// DirMode is the octal permissions of the recordings directory when vigil creates it.
	DirMode string `yaml:"dir_mode"`
	// Preroll starts a recording with the group of pictures already received.
	Preroll bool `yaml:"preroll"`
	// Grace is how long an automatic recording waits for its stream to come back.
	Grace Duration `yaml:"grace"`
	// Fragment is the media time written with each write call.
	Fragment Duration `yaml:"fragment"`
	// Fsync is never, close or interval.
	Fsync string `yaml:"fsync"`
	// FsyncInterval is the sync period of the interval policy.
	FsyncInterval Duration `yaml:"fsync_interval"`
	// PageCache is drop (start write-back as files grow and drop written pages from the page
	// cache) or keep (leave them to the kernel).
	PageCache string `yaml:"page_cache"`
	// OnRecordHookScript runs with the stream name and the file path of every finished file.
	OnRecordHookScript string `yaml:"on_record_hook_script"`
	// HookTimeout kills a hook that runs longer.
	HookTimeout Duration `yaml:"hook_timeout"`
	// Catalog is the path of the recordings index; empty: .vigil-catalog.db in dir.
	Catalog string `yaml:"catalog"`
}

// LogConfig sets up the server log.
type LogConfig struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// SessionsConfig tunes WebRTC sessions.
type SessionsConfig struct {
	// ConnectTimeout ends a session whose peer has not connected by then.
	ConnectTimeout Duration `yaml:"connect_timeout"`
	// DisconnectedTimeout is how long without traffic before a peer counts as disconnected.
	DisconnectedTimeout Duration `yaml:"disconnected_timeout"`
	// FailedTimeout is how long a disconnected peer is kept before its session ends.
	FailedTimeout Duration `yaml:"failed_timeout"`
}

// HubConfig tunes the fan-out from publishers to subscribers.
type HubConfig struct {
	// QueuePackets is each subscriber's queue, in RTP packets; a subscriber that falls further
	// behind loses packets up to the next keyframe.
	QueuePackets int `yaml:"queue_packets"`
	// KeyframeInterval is the shortest time between keyframe requests sent to one publisher.
	KeyframeInterval Duration `yaml:"keyframe_interval"`
}

// DiskConfig keeps the recordings volume from filling up.
type DiskConfig struct {
	// MinFree is the free space kept: a size ("2GiB") or a percentage of the volume ("10%").
	MinFree string `yaml:"min_free"`
	// HardFloor is where recordings are closed (stop-new, or delete-oldest with nothing left to
	// delete); a size or a percentage.
	HardFloor string `yaml:"hard_floor"`
	// Policy is delete-oldest (a ring buffer) or stop-new (refuse new recordings with 507).
	Policy string `yaml:"policy"`
	// CheckInterval is how often free space is read.
	CheckInterval Duration `yaml:"check_interval"`
	// MaxAge deletes closed segments older than this; 0 keeps them.
	MaxAge Duration `yaml:"max_age"`
	// MaxBytes bounds all recordings together; 0: no bound.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// MaxBytesPerStream bounds the recordings of each stream; 0: no bound.
	MaxBytesPerStream ByteSize `yaml:"max_bytes_per_stream"`
	// MaxSegment bounds segments under delete-oldest, whatever rotation a recording asked for, so
	// there is always finished history to delete: "auto" (at most 5 minutes, and all open
	// segments together at most a quarter of the volume), a duration ("2m"), or "off".
	MaxSegment string `yaml:"max_segment"`
	// Headroom raises min_free to at least this long of writing at the recent peak write rate
	// (and the hard floor to 3 s of it), capped at 40% of the volume; 0 turns it off.
	Headroom Duration `yaml:"headroom"`
}

// TLSConfig serves HTTPS on the HTTP address: browsers open cameras only on secure origins.
type TLSConfig struct {
	// Cert is the PEM file of the certificate chain; with Key, HTTPS. Both empty: plain HTTP.
	// New files are picked up within a second of a change, without a restart.
	Cert string `yaml:"cert"`
	// Key is the PEM file of the certificate's private key.
	Key string `yaml:"key"`
}

// LimitsConfig bounds what clients may ask for; 0 is no bound. Each refusal answers a JSON
// error and counts in vigil_limit_refusals_total.
type LimitsConfig struct {
	// Publishers caps the live streams, published or pulled (WHIP beyond: 503).
	Publishers int `yaml:"publishers"`
	// Viewers caps WHEP sessions in total (503 beyond).
	Viewers int `yaml:"viewers"`
	// ViewersPerStream caps WHEP sessions of one stream (503 beyond).
	ViewersPerStream int `yaml:"viewers_per_stream"`
	// SDPBytes caps the size of an offer (413 beyond).
	SDPBytes ByteSize `yaml:"sdp_bytes"`
	// MediaSections caps an offer's m-lines (400 beyond).
	MediaSections int `yaml:"media_sections"`
	// Candidates caps an offer's ICE candidates (400 beyond).
	Candidates int `yaml:"candidates"`
	// OffersPerSecond rate-limits WHIP and WHEP offers per client address outside the trusted
	// networks (429 beyond).
	OffersPerSecond int `yaml:"offers_per_second"`
	// OfferBurst is the burst of offers allowed above offers_per_second.
	OfferBurst int `yaml:"offer_burst"`
	// HTTPConnections caps the open HTTP connections; more wait to be accepted.
	HTTPConnections int `yaml:"http_connections"`
	// HTTPReadTimeout bounds reading a whole request, body included (a slow client cannot hold
	// a connection).
	HTTPReadTimeout Duration `yaml:"http_read_timeout"`
	// HTTPIdleTimeout closes idle keep-alive connections.
	HTTPIdleTimeout Duration `yaml:"http_idle_timeout"`
}

// CORSConfig lists the origins, beside vigil's own, whose pages may call it from a browser. A
// page of any other origin gets no CORS headers, and its POST, PATCH and DELETE are refused (403).
type CORSConfig struct {
	// MediaOrigins may use WHIP and WHEP (players and publishing pages on other sites); "*": any.
	MediaOrigins []string `yaml:"media_origins"`
	// APIOrigins may use everything else (the native and Web Call Server APIs); "*": any.
	APIOrigins []string `yaml:"api_origins"`
}

// PullConfig bounds pulls.
type PullConfig struct {
	// AllowedSources are the only places pulls connect to, when not empty: host names
	// ("origin.example.com", "*.example.com"), addresses and networks ("10.0.0.0/8"); a host name
	// not listed is allowed when the address it resolves to is in a listed network. Empty: any.
	AllowedSources []string `yaml:"allowed_sources"`
	// MaxPulls caps the pulls running at once, configured ones included.
	MaxPulls int `yaml:"max_pulls"`
}

// PlaybackConfig bounds exports.
type PlaybackConfig struct {
	// MaxRange is the longest time range one export may span (gaps included); longer ranges are
	// refused with 400. Default 24h.
	MaxRange Duration `yaml:"max_range"`
}

// S3Config offloads finished segments to S3-compatible storage.
type S3Config struct {
	// Endpoint is host:port of the S3 service; empty disables offload.
	Endpoint string `yaml:"endpoint"`
	// Secure uses HTTPS.
	Secure bool `yaml:"secure"`
	// Bucket receives the segments; it must exist.
	Bucket string `yaml:"bucket"`
	// Region is the bucket's region.
	Region string `yaml:"region"`
	// AccessKey is the access key of the credentials (prefer VIGIL_S3_ACCESS_KEY).
	AccessKey string `yaml:"access_key"`
	// SecretKey is the secret key of the credentials (prefer VIGIL_S3_SECRET_KEY).
	SecretKey string `yaml:"secret_key"`
	// KeyTemplate names objects: {node} {streamName} {date} {file} {recordingId}.
	KeyTemplate string `yaml:"key_template"`
	// Node is this node's name in keys; empty: the host name.
	Node string `yaml:"node"`
	// Concurrency is how many uploads run at once.
	Concurrency int `yaml:"concurrency"`
	// PartSize is the multipart part size; files larger than it are uploaded in parts.
	PartSize ByteSize `yaml:"part_size"`
	// DeleteLocalAfterUpload removes the local file once its upload is verified.
	DeleteLocalAfterUpload bool `yaml:"delete_local_after_upload"`
}

// WebhooksConfig posts events to HTTP endpoints.
type WebhooksConfig struct {
	// URLs are the endpoints receiving every event; empty disables webhooks.
	URLs []string `yaml:"urls"`
	// Secret signs each body with HMAC-SHA256 (header X-Vigil-Signature).
	Secret string `yaml:"secret"`
	// Timeout bounds one delivery attempt.
	Timeout Duration `yaml:"timeout"`
}

// MetricsConfig tunes GET /metrics and the degraded-stream judgement (docs/metrics.md).
type MetricsConfig struct {
	// StreamSeries caps per-stream series: only the first N streams by name get them; totals
	// always count every stream. 0 exports none. Default 500.
	StreamSeries int `yaml:"stream_series"`
	// DegradedWindow is how far back drops, slow writes and loss count when judging a stream
	// degraded, and the span its frame rate and bitrate are averaged over. Default 3s.
	DegradedWindow Duration `yaml:"degraded_window"`
	// DegradedLossPercent is the share of packets lost for good (after retransmission) over the
	// window, in percent, above which a stream is degraded. Default 2.
	DegradedLossPercent int `yaml:"degraded_loss_percent"`
}

// Default returns the built-in defaults: the server runs with no file, flag or variable at all.
func Default() Config {
	return Config{
		HTTP:             ":8081",
		UDP:              ":8189",
		Dir:              "./recordings",
		PublicIPs:        []string{},
		UDPReceiveBuffer: 8 << 20,
		UDPReadInterval:  Duration(10 * time.Millisecond),
		UDPDirectMedia:   true,
		ShutdownGrace:    Duration(10 * time.Second),
		GCPercent:        50,
		Log:              LogConfig{Level: "info", Format: "text"},
		Sessions: SessionsConfig{
			ConnectTimeout:      Duration(30 * time.Second),
			DisconnectedTimeout: Duration(5 * time.Second),
			FailedTimeout:       Duration(10 * time.Second),
		},
		Hub: HubConfig{QueuePackets: 2048, KeyframeInterval: Duration(500 * time.Millisecond)},
		Record: RecordConfig{
			Auto: "none", Streams: []string{}, Formats: "h264-mp4,vp8-webm", Rotation: "off",
			Template: "{streamName}_{startTime}_{segment}", FileMode: "0640", DirMode: "0750", Preroll: true, Grace: Duration(10 * time.Second),
			Fragment: Duration(time.Second), Fsync: "close", FsyncInterval: Duration(5 * time.Second),
			PageCache:   "drop",
			HookTimeout: Duration(60 * time.Second),
		},
		Disk: DiskConfig{MinFree: "5%", HardFloor: "1%", Policy: "delete-oldest", CheckInterval: Duration(time.Second),
			MaxSegment: "auto", Headroom: Duration(30 * time.Second)},
		S3: S3Config{Region: "us-east-1", KeyTemplate: "{node}/{streamName}/{date}/{file}", Concurrency: 4,
			PartSize: 16 << 20},
		Webhooks: WebhooksConfig{URLs: []string{}, Timeout: Duration(10 * time.Second)},
		Metrics:  MetricsConfig{StreamSeries: 500, DegradedWindow: Duration(3 * time.Second), DegradedLossPercent: 2},
		Pulls:    Pulls{},
		Pull:     PullConfig{AllowedSources: []string{}, MaxPulls: 1000},
		Playback: PlaybackConfig{MaxRange: Duration(24 * time.Hour)},
		CORS:     CORSConfig{MediaOrigins: []string{"*"}, APIOrigins: []string{}},
		Auth:     AuthConfig{Enabled: true, TrustedNetworks: []string{"127.0.0.0/8", "::1"}, Tokens: Tokens{}},
		Limits: LimitsConfig{Publishers: 1000, Viewers: 5000, ViewersPerStream: 1000, SDPBytes: 64 << 10,
			MediaSections: 8, Candidates: 64, OffersPerSecond: 10, OfferBurst: 20, HTTPConnections: 4096,
			HTTPReadTimeout: Duration(30 * time.Second), HTTPIdleTimeout: Duration(2 * time.Minute)},
		Cluster: ClusterConfig{Heartbeat: Duration(time.Second), TTL: Duration(5 * time.Second), Affinity: []string{}},
	}
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	errs = append(errs, checkAddress("http", "tcp", c.HTTP), checkAddress("udp", "udp", c.UDP))
	check(c.Dir != "", "dir: must not be empty")
	check((c.TLS.Cert == "") == (c.TLS.Key == ""), "tls: give both tls.cert and tls.key, or neither")
	for _, ip := range c.PublicIPs {
		check(net.ParseIP(ip) != nil, "public_ips: %q is not an IP address", ip)
	}
	check(c.UDPReceiveBuffer >= 0, "udp_receive_buffer: %v must not be negative", c.UDPReceiveBuffer)
	check(c.UDPReadInterval >= 0 && c.UDPReadInterval <= Duration(100*time.Millisecond),
		"udp_read_interval: %v must be between 0 and 100ms", c.UDPReadInterval)
	check(c.ShutdownGrace > 0, "shutdown_grace: %v must be positive", c.ShutdownGrace)
	check(c.GCPercent >= 10 && c.GCPercent <= 1000, "gc_percent: %v must be between 10 and 1000", c.GCPercent)
	if c.Pprof != "" {
		errs = append(errs, checkAddress("pprof", "tcp", c.Pprof))
	}
	check(oneOf(c.Log.Level, "debug", "info", "warn", "error"), "log.level: %q is not debug, info, warn or error", c.Log.Level)
	check(oneOf(c.Log.Format, "text", "json"), "log.format: %q is not text or json", c.Log.Format)
	check(c.Sessions.ConnectTimeout > 0, "sessions.connect_timeout: %v must be positive", c.Sessions.ConnectTimeout)
	check(c.Sessions.DisconnectedTimeout > 0, "sessions.disconnected_timeout: %v must be positive", c.Sessions.DisconnectedTimeout)
	check(c.Sessions.FailedTimeout > 0, "sessions.failed_timeout: %v must be positive", c.Sessions.FailedTimeout)
	check(c.Hub.QueuePackets >= 16, "hub.queue_packets: %v must be at least 16", c.Hub.QueuePackets)
	check(c.Hub.KeyframeInterval > 0, "hub.keyframe_interval: %v must be positive", c.Hub.KeyframeInterval)
	check(oneOf(c.Record.Auto, "none", "all", "match"), "record.auto: %q is not none, all or match", c.Record.Auto)
	check(c.Record.Auto != "match" || len(c.Record.Streams) > 0, "record.streams: give patterns when record.auto is match")
	check(oneOf(c.Record.Fsync, "never", "close", "interval"), "record.fsync: %q is not never, close or interval", c.Record.Fsync)
	check(oneOf(c.Record.PageCache, "drop", "keep"), "record.page_cache: %q is not drop or keep", c.Record.PageCache)
	check(c.Record.Grace >= 0, "record.grace: %v must not be negative", c.Record.Grace)
	check(c.Record.Fragment >= Duration(100*time.Millisecond) && c.Record.Fragment <= Duration(10*time.Second),
		"record.fragment: %v must be between 100ms and 10s", c.Record.Fragment)
	check(c.Record.FsyncInterval > 0, "record.fsync_interval: %v must be positive", c.Record.FsyncInterval)
	for key, mode := range map[string]string{"record.file_mode": c.Record.FileMode, "record.dir_mode": c.Record.DirMode} {
		_, err := ParseMode(mode)
		check(err == nil, "%s: %v", key, err)
	}
	check(c.Record.HookTimeout > 0, "record.hook_timeout: %v must be positive", c.Record.HookTimeout)
	check(oneOf(c.Disk.Policy, "delete-oldest", "stop-new"), "disk.policy: %q is not delete-oldest or stop-new", c.Disk.Policy)
	check(c.Disk.CheckInterval > 0, "disk.check_interval: %v must be positive", c.Disk.CheckInterval)
	check(c.Disk.MaxAge >= 0, "disk.max_age: %v must not be negative", c.Disk.MaxAge)
	check(c.Disk.MaxBytes >= 0, "disk.max_bytes: %v must not be negative", c.Disk.MaxBytes)
	check(c.Disk.MaxBytesPerStream >= 0, "disk.max_bytes_per_stream: %v must not be negative", c.Disk.MaxBytesPerStream)
	check(c.Disk.Headroom >= 0, "disk.headroom: %v must not be negative", c.Disk.Headroom)
	check(c.S3.Endpoint == "" || c.S3.Bucket != "", "s3.bucket: required with s3.endpoint")
	check(c.S3.Concurrency > 0, "s3.concurrency: %v must be positive", c.S3.Concurrency)
	check(c.S3.PartSize >= 5<<20, "s3.part_size: %v: S3 needs at least 5MiB", c.S3.PartSize)
	check(c.Webhooks.Timeout > 0, "webhooks.timeout: %v must be positive", c.Webhooks.Timeout)
	check(c.Metrics.StreamSeries >= 0, "metrics.stream_series: %v must not be negative", c.Metrics.StreamSeries)
	check(c.Metrics.DegradedWindow >= Duration(time.Second) && c.Metrics.DegradedWindow <= Duration(15*time.Second),
		"metrics.degraded_window: %v must be between 1s and 15s", c.Metrics.DegradedWindow)
	check(c.Metrics.DegradedLossPercent >= 1 && c.Metrics.DegradedLossPercent <= 100,
		"metrics.degraded_loss_percent: %v must be between 1 and 100", c.Metrics.DegradedLossPercent)
	check(c.Pull.MaxPulls > 0, "pull.max_pulls: %v must be positive", c.Pull.MaxPulls)
	check(c.Playback.MaxRange > 0, "playback.max_range: %v must be positive", c.Playback.MaxRange)
	errs = append(errs, c.Auth.problems()...)
	errs = append(errs, c.Cluster.problems()...)
	for _, s := range Settings(&c) {
		if s.Path[0] == "limits" && s.value.Int() < 0 {
			errs = append(errs, fmt.Errorf("%s: %s must not be negative (0 is no bound)", s.Key(), s.String()))
		}
	}
	return errors.Join(errs...)
}

func oneOf(s string, options ...string) bool {
	for _, o := range options {
		if s == o {
			return true
		}
	}
	return false
}

// ParseMode reads octal permissions ("0640").
func ParseMode(s string) (os.FileMode, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 8, 32)
	if err != nil || n == 0 || n > 0o777 {
		return 0, fmt.Errorf("%q is not octal permissions such as 0640", s)
	}
	return os.FileMode(n), nil
}

// checkAddress is the problem of a listen address, or nil: host:port with a port from 0 to
// 65535 (or a service name), so a typo is caught before anything binds.
func checkAddress(key, network, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s: %q is not a host:port address such as :8081 or 127.0.0.1:8081", key, addr)
	}
	if _, err := net.LookupPort(network, port); err != nil {
		return fmt.Errorf("%s: %q: the port must be from 0 to 65535", key, addr)
	}
	return nil
}

func (c ClusterConfig) problems() []error {
	var errs []error
	if c.Redis != "" {
		if u, err := url.Parse(c.Redis); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			errs = append(errs, fmt.Errorf("cluster.redis: %q is not a URL such as redis://host:6379/0", redactURL(c.Redis)))
		}
	}
	if c.URL != "" {
		if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") {
			errs = append(errs, fmt.Errorf("cluster.url: %q is not a base URL such as http://10.0.0.5:8081", c.URL))
		}
	}
	if c.Heartbeat <= 0 {
		errs = append(errs, fmt.Errorf("cluster.heartbeat: %v must be positive", c.Heartbeat))
	}
	for _, a := range c.Affinity {
		pattern, node, ok := strings.Cut(a, "=")
		if _, err := path.Match(pattern, ""); !ok || pattern == "" || node == "" || err != nil {
			errs = append(errs, fmt.Errorf("cluster.affinity: %q is not PATTERN=NODE, e.g. cam-lobby-*=rec-1", a))
		}
	}
	if c.TTL < 2*c.Heartbeat {
		errs = append(errs, fmt.Errorf("cluster.ttl: %v must be at least two heartbeats (%v)", c.TTL, 2*c.Heartbeat))
	}
	return errs
}

// redactURL hides a URL's password, so it reaches no error message.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = url.User("***")
	return u.String()
}
