// Package webhook delivers vigil's events as signed HTTP POSTs of JSON: recording.started,
// segment.closed, recording.stopped, recording.failed, segment.uploaded, segment.deleted,
// disk.low and disk.ok. Each event has an id (receivers deduplicate with it), delivery is
// retried with exponential backoff until the receiver answers 2xx, and kept in a Store until then,
// so an event survives a restart or a crash (at least once), and sending never blocks the caller:
// events wait in a bounded queue per URL.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
)

// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the body under the secret.
const SignatureHeader = "X-Vigil-Signature"

// Event is what receivers get.
type Event struct {
	ID   string    `json:"id"`
	Type string    `json:"type"`
	Time time.Time `json:"time"`
	Data any       `json:"data"`
}

// Store keeps undelivered events across restarts. Put and Delete are called from Send and the
// delivery goroutines; Pending once, from New.
type Store interface {
	// Put keeps an encoded event for url and returns its key.
	Put(url string, event []byte) (key string, err error)
	// Delete forgets a delivered event.
	Delete(key string) error
	// Pending returns the events kept for url, oldest first, with their keys.
	Pending(url string) (keys []string, events [][]byte, err error)
}

// queued is an event waiting for one URL.
type queued struct {
	key  string // in the Store; empty without one
	ev   Event
	body []byte
}

// Config of the dispatcher.
type Config struct {
	URLs    []string
	Secret  string
	Timeout time.Duration
	// RetryMin and RetryMax bound the backoff between attempts (default 1 s and 1 min).
	RetryMin, RetryMax time.Duration
	// QueueSize bounds the events waiting per URL (default 10000); beyond, events are dropped
	// and counted.
	QueueSize int
}

// Stats count deliveries.
type Stats struct {
	Delivered, Failures, Dropped uint64
	Queue                        int
}

// Dispatcher sends events.
type Dispatcher struct {
	cfg    Config
	client *http.Client
	log    *slog.Logger
	store  Store
	queues map[string]chan queued

	mu    sync.Mutex
	stats Stats
}

// New returns a dispatcher; Run must be running for deliveries to happen. store may be nil (events
// then live in memory only); events it kept from an earlier run are queued first.
func New(cfg Config, store Store, log *slog.Logger) *Dispatcher {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = time.Minute
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 10000
	}
	d := &Dispatcher{cfg: cfg, client: &http.Client{Timeout: cfg.Timeout}, log: log, store: store,
		queues: map[string]chan queued{}}
	for _, u := range cfg.URLs {
		d.queues[u] = make(chan queued, cfg.QueueSize)
		d.restore(u)
	}
	return d
}

// restore queues the events an earlier run could not deliver to u.
func (d *Dispatcher) restore(u string) {
	if d.store == nil {
		return
	}
	keys, events, err := d.store.Pending(u)
	if err != nil {
		d.log.Error("load undelivered webhook events", "url", u, "err", err)
		return
	}
	for i, body := range events {
		var ev Event
		if err := json.Unmarshal(body, &ev); err != nil {
			_ = d.store.Delete(keys[i])
			continue
		}
		select {
		case d.queues[u] <- queued{key: keys[i], ev: ev, body: body}:
		default:
			return // the rest stays stored for the next start
		}
	}
	if len(events) > 0 {
		d.log.Info("redelivering webhook events from the last run", "url", u, "events", len(events))
	}
}

// Send queues an event for every URL. It never blocks.
func (d *Dispatcher) Send(typ string, data any) {
	if len(d.queues) == 0 {
		return
	}
	ev := Event{ID: uuid.NewString(), Type: typ, Time: time.Now().UTC(), Data: data}
	body, err := json.Marshal(ev)
	if err != nil {
		d.log.Error("encode webhook event", "type", typ, "err", err)
		return
	}
	for u, q := range d.queues {
		item := queued{ev: ev, body: body}
		if d.store != nil {
			if item.key, err = d.store.Put(u, body); err != nil {
				d.log.Error("keep webhook event", "url", u, "type", typ, "err", err)
			}
		}
		select {
		case q <- item:
		default:
			d.mu.Lock()
			d.stats.Dropped++
			d.mu.Unlock()
			d.log.Error("webhook queue full: event kept for the next start", "url", u, "type", typ)
		}
	}
}

// Stats returns the counters.
func (d *Dispatcher) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.stats
	for _, q := range d.queues {
		s.Queue += len(q)
	}
	return s
}

// Run delivers until ctx ends, one goroutine per URL (so one slow receiver never delays another).
func (d *Dispatcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for u, q := range d.queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					if n := len(q); n > 0 {
						d.log.Info("undelivered webhook events kept for the next start", "url", u, "events", n)
					}
					return
				case item := <-q:
					d.deliver(ctx, u, item)
				}
			}
		}()
	}
	wg.Wait()
	return nil
}

// deliver retries one event until it is accepted (then forgets it) or ctx ends (it stays stored).
func (d *Dispatcher) deliver(ctx context.Context, url string, item queued) {
	ev, body := item.ev, item.body
	for attempt := 1; ; attempt++ {
		err := d.post(ctx, url, ev, body)
		if err == nil {
			d.mu.Lock()
			d.stats.Delivered++
			d.mu.Unlock()
			if d.store != nil && item.key != "" {
				if err := d.store.Delete(item.key); err != nil {
					d.log.Error("forget delivered webhook event", "err", err)
				}
			}
			return
		}
		d.mu.Lock()
		d.stats.Failures++
		d.mu.Unlock()
		backoff := d.cfg.RetryMin << min(attempt-1, 20)
		if backoff > d.cfg.RetryMax || backoff <= 0 {
			backoff = d.cfg.RetryMax
		}
		backoff = backoff/2 + time.Duration(rand.Int64N(int64(backoff/2)+1))
		d.log.Warn("webhook delivery failed; retrying", "url", url, "type", ev.Type, "attempt", attempt, "err", err,
			"retry_in", backoff.Round(time.Millisecond))
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (d *Dispatcher) post(ctx context.Context, url string, ev Event, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Vigil-Event", ev.Type)
	req.Header.Set("X-Vigil-Event-Id", ev.ID)
	if d.cfg.Secret != "" {
		req.Header.Set(SignatureHeader, "sha256="+Sign(d.cfg.Secret, body))
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("receiver answered %d", resp.StatusCode)
	}
	return nil
}

// Sign returns the hex HMAC-SHA256 of body under secret, as sent in SignatureHeader.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}
