package api

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Limits bound what clients may ask for; a zero field is no bound. Each refusal answers a JSON
// error (413, 400, 429 or 503) and is counted by name.
type Limits struct {
	// Publishers caps the live streams (published or pulled): WHIP beyond it gets 503.
	Publishers int
	// Viewers caps WHEP sessions in total, ViewersPerStream per stream: 503 beyond.
	Viewers, ViewersPerStream int
	// SDPBytes caps an offer's size: 413 beyond.
	SDPBytes int
	// MediaSections and Candidates cap an offer's m-lines and ICE candidates: 400 beyond.
	MediaSections, Candidates int
	// OffersPerSecond and OfferBurst rate-limit WHIP and WHEP offers per client address: 429.
	OffersPerSecond float64
	OfferBurst      int
}

// Occupancy is what the limits count.
type Occupancy interface {
	Viewers() int
	ViewersOf(stream string) int
}

// Refusals counts the requests each limit refused, by limit name.
type Refusals struct {
	mu sync.Mutex
	n  map[string]*atomic.Uint64
}

// NewRefusals returns zeroed counters for every limit.
func NewRefusals() *Refusals {
	r := &Refusals{n: map[string]*atomic.Uint64{}}
	for _, name := range []string{"publishers", "viewers", "viewers_per_stream", "sdp_bytes", "media_sections",
		"candidates", "offer_rate", "pulls"} {
		r.n[name] = &atomic.Uint64{}
	}
	return r
}

func (r *Refusals) add(name string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	c, ok := r.n[name]
	if !ok {
		c = &atomic.Uint64{}
		r.n[name] = c
	}
	r.mu.Unlock()
	c.Add(1)
}

// Snapshot returns the counts by limit name (every limit present).
func (r *Refusals) Snapshot() map[string]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]uint64, len(r.n))
	for k, v := range r.n {
		out[k] = v.Load()
	}
	return out
}

// offerRates rate-limits offers per client address. Entries idle for a minute are dropped when
// the table grows, so a scan of many addresses cannot grow it without bound.
type offerRates struct {
	mu      sync.Mutex
	perSec  float64
	burst   int
	clients map[string]*clientRate
}

type clientRate struct {
	lim  *rate.Limiter
	seen time.Time
}

const maxRateClients = 10000

func (o *offerRates) allow(r *http.Request) bool {
	if o == nil || o.perSec <= 0 {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	c, ok := o.clients[host]
	if !ok {
		if len(o.clients) >= maxRateClients {
			for k, v := range o.clients {
				if now.Sub(v.seen) > time.Minute {
					delete(o.clients, k)
				}
			}
		}
		c = &clientRate{lim: rate.NewLimiter(rate.Limit(o.perSec), max(o.burst, 1))}
		o.clients[host] = c
	}
	c.seen = now
	return c.lim.AllowN(now, 1)
}

// checkOffer applies the limits to an offer for stream at prefix ("/whip/" or "/whep/"); it
// returns the refusal, nil when the offer may go on.
func (s *Server) checkOffer(r *http.Request, prefix, stream string, offer []byte) *httpError {
	l := s.deps.Limits
	refuse := func(name string, status int, msg string) *httpError {
		s.deps.Refusals.add(name)
		return &httpError{status: status, msg: msg}
	}
	if (s.deps.Auth == nil || !s.deps.Auth.Trusted(r)) && !s.rates.allow(r) {
		return refuse("offer_rate", http.StatusTooManyRequests, "too many offers from this address: try again in a second")
	}
	if l.SDPBytes > 0 && len(offer) > l.SDPBytes {
		return refuse("sdp_bytes", http.StatusRequestEntityTooLarge,
			"the offer is larger than "+itoa(l.SDPBytes)+" bytes (limits.sdp_bytes)")
	}
	sections, candidates := 0, 0
	for _, line := range strings.Split(string(offer), "\n") {
		switch {
		case strings.HasPrefix(line, "m="):
			sections++
		case strings.HasPrefix(line, "a=candidate:"):
			candidates++
		}
	}
	if l.MediaSections > 0 && sections > l.MediaSections {
		return refuse("media_sections", http.StatusBadRequest,
			"the offer has "+itoa(sections)+" media sections, more than "+itoa(l.MediaSections)+" (limits.media_sections)")
	}
	if l.Candidates > 0 && candidates > l.Candidates {
		return refuse("candidates", http.StatusBadRequest,
			"the offer has "+itoa(candidates)+" ICE candidates, more than "+itoa(l.Candidates)+" (limits.candidates)")
	}
	if prefix == "/whip/" {
		if l.Publishers > 0 && len(s.deps.Streams.List()) >= l.Publishers {
			return refuse("publishers", http.StatusServiceUnavailable,
				"the server has its "+itoa(l.Publishers)+" live streams (limits.publishers)")
		}
		return nil
	}
	if o := s.deps.Occupancy; o != nil {
		if l.Viewers > 0 && o.Viewers() >= l.Viewers {
			return refuse("viewers", http.StatusServiceUnavailable,
				"the server has its "+itoa(l.Viewers)+" viewers (limits.viewers)")
		}
		if l.ViewersPerStream > 0 && o.ViewersOf(stream) >= l.ViewersPerStream {
			return refuse("viewers_per_stream", http.StatusServiceUnavailable,
				stream+" has its "+itoa(l.ViewersPerStream)+" viewers (limits.viewers_per_stream)")
		}
	}
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }
