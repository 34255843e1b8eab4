// Package config defines vigil's settings, their built-in defaults, and how they are loaded: a
// YAML file, then VIGIL_* environment variables, then command-line flags, each overriding the one
// before. Only cli and app import it; every component receives its own small Config.
package config

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// Config is every setting of the server. Field comments are the reference; docs/configuration.md
// and config.example.yaml repeat them for operators, and tests keep the three in step.
type Config struct {
	// HTTP is the listen address of the HTTP server: WHIP, WHEP, REST APIs and health checks.
	HTTP string `yaml:"http"`
	// UDP is the one UDP address that carries the WebRTC media of every session (ICE UDP mux).
	UDP string `yaml:"udp"`
	// Dir is the recordings directory.
	Dir string `yaml:"dir"`
	// PublicIPs are announced to peers instead of the host's own addresses (NAT 1:1), for cloud
	// hosts whose public address is not on an interface. Empty: announce local addresses.
	PublicIPs []string `yaml:"public_ips"`
	// UDPReceiveBuffer is the kernel receive buffer asked for on the media socket.
	UDPReceiveBuffer ByteSize `yaml:"udp_receive_buffer"`
	// ShutdownGrace bounds how long a graceful stop waits for sessions to end.
	ShutdownGrace Duration `yaml:"shutdown_grace"`

	Log      LogConfig      `yaml:"log"`
	Sessions SessionsConfig `yaml:"sessions"`
	Hub      HubConfig      `yaml:"hub"`
	Record   RecordConfig   `yaml:"record"`
}

// RecordConfig is how streams are recorded.
type RecordConfig struct {
	// Auto is the record policy: none (only on request), all, or match (names in Streams).
	Auto string `yaml:"auto"`
	// Streams are glob patterns (path.Match) of names recorded when Auto is match.
	Streams []string `yaml:"streams"`
	// Formats maps video codecs to containers, like record_formats: "h264-mp4,vp8-webm".
	Formats string `yaml:"formats"`
	// Rotation cuts recordings into segments: a duration ("20s", or "20" for seconds), a size
	// ("10M"), or "0" for one file per recording.
	Rotation string `yaml:"rotation"`
	// Template names segment files; placeholders are listed in docs/recording.md.
	Template string `yaml:"template"`
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

// Default returns the built-in defaults: the server runs with no file, flag or variable at all.
func Default() Config {
	return Config{
		HTTP:             ":8081",
		UDP:              ":8189",
		Dir:              "./recordings",
		PublicIPs:        []string{},
		UDPReceiveBuffer: 8 << 20,
		ShutdownGrace:    Duration(10 * time.Second),
		Log:              LogConfig{Level: "info", Format: "text"},
		Sessions: SessionsConfig{
			ConnectTimeout:      Duration(30 * time.Second),
			DisconnectedTimeout: Duration(5 * time.Second),
			FailedTimeout:       Duration(10 * time.Second),
		},
		Hub: HubConfig{QueuePackets: 2048, KeyframeInterval: Duration(500 * time.Millisecond)},
		Record: RecordConfig{
			Auto: "none", Streams: []string{}, Formats: "h264-mp4,vp8-webm", Rotation: "0",
			Template: "{streamName}_{startTime}_{segment}", Preroll: true, Grace: Duration(10 * time.Second),
			Fragment: Duration(time.Second), Fsync: "close", FsyncInterval: Duration(5 * time.Second),
			HookTimeout: Duration(60 * time.Second),
		},
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
	_, _, err := net.SplitHostPort(c.HTTP)
	check(err == nil, "http: %q is not a host:port address", c.HTTP)
	_, _, err = net.SplitHostPort(c.UDP)
	check(err == nil, "udp: %q is not a host:port address", c.UDP)
	check(c.Dir != "", "dir: must not be empty")
	for _, ip := range c.PublicIPs {
		check(net.ParseIP(ip) != nil, "public_ips: %q is not an IP address", ip)
	}
	check(c.UDPReceiveBuffer >= 0, "udp_receive_buffer: must not be negative")
	check(c.ShutdownGrace > 0, "shutdown_grace: must be positive")
	check(oneOf(c.Log.Level, "debug", "info", "warn", "error"), "log.level: %q is not debug, info, warn or error", c.Log.Level)
	check(oneOf(c.Log.Format, "text", "json"), "log.format: %q is not text or json", c.Log.Format)
	check(c.Sessions.ConnectTimeout > 0, "sessions.connect_timeout: must be positive")
	check(c.Sessions.DisconnectedTimeout > 0, "sessions.disconnected_timeout: must be positive")
	check(c.Sessions.FailedTimeout > 0, "sessions.failed_timeout: must be positive")
	check(c.Hub.QueuePackets >= 16, "hub.queue_packets: must be at least 16")
	check(c.Hub.KeyframeInterval > 0, "hub.keyframe_interval: must be positive")
	check(oneOf(c.Record.Auto, "none", "all", "match"), "record.auto: %q is not none, all or match", c.Record.Auto)
	check(c.Record.Auto != "match" || len(c.Record.Streams) > 0, "record.streams: give patterns when record.auto is match")
	check(oneOf(c.Record.Fsync, "never", "close", "interval"), "record.fsync: %q is not never, close or interval", c.Record.Fsync)
	check(c.Record.Grace >= 0, "record.grace: must not be negative")
	check(c.Record.Fragment >= Duration(100*time.Millisecond) && c.Record.Fragment <= Duration(10*time.Second),
		"record.fragment: must be between 100ms and 10s")
	check(c.Record.FsyncInterval > 0, "record.fsync_interval: must be positive")
	check(c.Record.HookTimeout > 0, "record.hook_timeout: must be positive")
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
