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
