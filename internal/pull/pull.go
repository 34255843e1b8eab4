// Package pull brings streams of other servers into the local hub: a pull is a WHEP client
// (draft-ietf-wish-whep) that plays a remote stream and publishes it under a local name, exactly as
// a WHIP publisher would, so the stream is listed, viewable, recordable and counted like any other.
// Keyframe requests of local viewers and recorders travel upstream as RTCP PLI.
//
// Each pull is supervised: when its upstream session fails or the remote ends it, the pull
// reconnects after a capped exponential backoff with jitter. The local stream is held across a
// reconnect (see docs/pull.md): packets keep one continuous sequence and timestamp line per track,
// and the SSRC changes with every upstream session, which tells recorders to start a new segment.
//
// pull imports hub, rtc, session, whip and media. It never imports recorder, storage, api or metrics.
package pull

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vigilrec/vigil/internal/hub"
)

// Errors of pulls.
var (
	// ErrExists means a pull or a live stream already has the local name.
	ErrExists = errors.New("local stream name is already in use")
	// ErrNotFound means no pull has that local name.
	ErrNotFound = errors.New("pull not found")
	// ErrBadSpec means the source, remote name or quantity of a pull is invalid.
	ErrBadSpec = errors.New("invalid pull")
	// ErrLimit means the pulls would be more than Config.MaxPulls.
	ErrLimit = errors.New("too many pulls")
)

// Errors that end an upstream session; they show as the last error of a retrying pull.
var (
	errNoMedia      = errors.New("no media from the remote")
	errRemoteEnded  = errors.New("the remote ended the session")
	errIdle         = errors.New("no packets from the remote")
	errNoTracks     = errors.New("the remote answered without any audio or video to send")
	errUnsupported  = errors.New("the remote sends no codec vigil handles")
	errConnectState = errors.New("connection failed")
)

// MaxQty is the largest batch one request may create.
const MaxQty = 1000

// Config tunes every pull of a manager. Zero values take the defaults.
type Config struct {
	// MinBackoff is the first wait before a reconnection; each failure doubles it. Default 500 ms.
	MinBackoff time.Duration
	// MaxBackoff caps the wait. Default 10 s. Each wait is a random value between half of the
	// current step and all of it (jitter), so many pulls of one remote do not retry in step.
	MaxBackoff time.Duration
	// ConnectTimeout bounds one connection attempt: the WHEP exchange and the first media.
	// Default 10 s.
	ConnectTimeout time.Duration
	// TrackWait is how long the other tracks the remote announced may lag behind the first one
	// to arrive (a remote's video waits for its next keyframe). After it the session goes on with
	// the tracks that came. Default 10 s.
	TrackWait time.Duration
	// IdleTimeout ends an upstream session that has sent no RTP for this long. Default 5 s.
	IdleTimeout time.Duration
	// Hold keeps the local stream (and with it the viewers and recordings) while the pull
	// reconnects. When the upstream is back within Hold with the same tracks, the stream goes
	// on; otherwise it is closed and a new one is created when media returns. Default 30 s.
	Hold time.Duration
	// StableAfter is how long a session must have played for the backoff to start over.
	// Default 10 s.
	StableAfter time.Duration
	// StartWait is how long Start waits for each new pull's first attempt to end (playing or
	// failed), so the answer shows the outcome. Default 3 s.
	StartWait time.Duration
	// Static are pulls started by Run and kept until shutdown (the configuration's pulls).
	Static []Spec
	// AllowedSources, when not empty, are the only places pulls connect to: host names
	// ("origin.example.com", "*.example.com"), addresses and networks ("10.0.0.0/8"). A host
	// name not listed is allowed only when every address it resolves to (at connection time) is
	// in a listed network.
	AllowedSources []string
	// MaxPulls caps the pulls of the manager, configured ones included. Default 1000.
	MaxPulls int
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.MinBackoff, 500*time.Millisecond)
	def(&c.MaxBackoff, 10*time.Second)
	def(&c.ConnectTimeout, 10*time.Second)
	def(&c.TrackWait, 10*time.Second)
	def(&c.IdleTimeout, 5*time.Second)
	def(&c.Hold, 30*time.Second)
	def(&c.StableAfter, 10*time.Second)
	def(&c.StartWait, 3*time.Second)
	if c.MaxPulls <= 0 {
		c.MaxPulls = MaxQty
	}
	c.MaxBackoff = max(c.MaxBackoff, c.MinBackoff)
	return c
}

// Spec is one pull: the remote it plays and the local name it publishes.
type Spec struct {
	// Local is the local stream name.
	Local string
	// Source is what the user gave: a vigil base URL or a full WHEP endpoint URL.
	Source string
	// Remote is the remote stream name (empty when Source is a full endpoint and none was given).
	Remote string
	// Endpoint is the WHEP URL the offer is posted to.
	Endpoint string
}

// Expand validates a pull request and returns its pulls. With qty 0 it is one pull named local
// (or, when local is empty, remote). With qty n ≥ 1 it is n pulls of the same remote named local
// plus an index: "Stream-" and 3 give Stream-1, Stream-2, Stream-3, as the Web Call Server
// console's "Qty" does.
func Expand(source, remote, local string, qty int) ([]Spec, error) {
	endpoint, err := Endpoint(source, remote)
	if err != nil {
		return nil, err
	}
	if qty < 0 || qty > MaxQty {
		return nil, fmt.Errorf("%w: qty must be between 0 and %d", ErrBadSpec, MaxQty)
	}
	if local == "" {
		local = remote
	}
	if local == "" {
		return nil, fmt.Errorf("%w: give the local stream name", ErrBadSpec)
	}
	names := []string{local}
	if qty > 0 {
		names = make([]string, qty)
		for i := range names {
			names[i] = local + strconv.Itoa(i+1)
		}
	}
	out := make([]Spec, len(names))
	for i, n := range names {
		if err := hub.ValidateName(n); err != nil {
			return nil, fmt.Errorf("local name: %w", err)
		}
		out[i] = Spec{Local: n, Source: source, Remote: remote, Endpoint: endpoint}
	}
	return out, nil
}

// Endpoint resolves the WHEP URL of a pull. A source whose path is empty or "/" is a vigil base
// URL (http://host:8081): the endpoint is source + "/whep/" + remote, and remote is required. A
// source with any other path is taken as the full WHEP endpoint of any server (MediaMTX's
// http://host:8889/cam/whep, vigil's http://host:8081/whep/cam) and is used as it is.
func Endpoint(source, remote string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(source))
	if err != nil {
		return "", fmt.Errorf("%w: source %q is not a URL: %v", ErrBadSpec, source, err) //nolint:errorlint // detail
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("%w: source %q must be an http:// or https:// URL: a vigil base URL or a WHEP endpoint",
			ErrBadSpec, source)
	}
	if u.Path != "" && u.Path != "/" {
		return u.String(), nil
	}
	if remote == "" {
		return "", fmt.Errorf("%w: give the remote stream name to pull from %s", ErrBadSpec, source)
	}
	if err := hub.ValidateName(remote); err != nil {
		return "", fmt.Errorf("remote name: %w", err)
	}
	u.Path = "/whep/" + remote
	return u.String(), nil
}

// State is where a pull is in its life.
type State string

// Pull states.
const (
	// StateConnecting: an attempt is under way (WHEP exchange, ICE, first media).
	StateConnecting State = "connecting"
	// StatePlaying: media flows into the local stream.
	StatePlaying State = "playing"
	// StateRetrying: the last attempt failed or the session ended; the next one is scheduled.
	StateRetrying State = "retrying"
	// StateStopped: the pull was terminated (or the server is stopping).
	StateStopped State = "stopped"
)

// Status is a snapshot of one pull.
type Status struct {
	Spec
	State State
	// Since is when the pull entered State.
	Since time.Time
	// Created is when the pull was started.
	Created time.Time
	// Attempts counts the failed attempts since the pull last played steadily.
	Attempts int
	// LastError is why the last attempt failed or the last session ended.
	LastError string
	// NextAttempt is when a retrying pull tries again.
	NextAttempt time.Time
	// Connected is when the current (or last) upstream session started playing.
	Connected time.Time
	// Sessions counts the upstream sessions that played.
	Sessions int
	// MediaSessionID is the local stream's id; empty while the pull holds no stream.
	MediaSessionID string
	// Resource is the WHEP resource URL of the current upstream session.
	Resource string
}
