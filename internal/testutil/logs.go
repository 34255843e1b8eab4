package testutil

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// LogLine is one record a Logs handler kept, its attributes (those of With included) as text.
type LogLine struct {
	Level slog.Level
	Msg   string
	Attrs map[string]string
}

// Logs is a slog handler that keeps every record at Debug and above, for tests that check what
// is logged. Groups are flattened away.
type Logs struct {
	store *logStore
	attrs []slog.Attr
}

type logStore struct {
	mu    sync.Mutex
	lines []LogLine
}

// NewLogs returns a handler that keeps nothing yet.
func NewLogs() *Logs { return &Logs{store: &logStore{}} }

// Logger returns a logger writing to l.
func (l *Logs) Logger() *slog.Logger { return slog.New(l) }

// Enabled implements slog.Handler.
func (l *Logs) Enabled(context.Context, slog.Level) bool { return true }

// Handle implements slog.Handler.
func (l *Logs) Handle(_ context.Context, r slog.Record) error {
	line := LogLine{Level: r.Level, Msg: r.Message, Attrs: map[string]string{}}
	for _, a := range l.attrs {
		line.Attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		line.Attrs[a.Key] = a.Value.String()
		return true
	})
	l.store.mu.Lock()
	l.store.lines = append(l.store.lines, line)
	l.store.mu.Unlock()
	return nil
}

// WithAttrs implements slog.Handler.
func (l *Logs) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Logs{store: l.store, attrs: append(append([]slog.Attr(nil), l.attrs...), attrs...)}
}

// WithGroup implements slog.Handler.
func (l *Logs) WithGroup(string) slog.Handler { return l }

// Lines returns the records kept so far with message msg.
func (l *Logs) Lines(msg string) []LogLine {
	l.store.mu.Lock()
	defer l.store.mu.Unlock()
	var out []LogLine
	for _, line := range l.store.lines {
		if line.Msg == msg {
			out = append(out, line)
		}
	}
	return out
}

// WaitFor returns the first record with message msg, polling until it is logged; the test fails
// when it is not within timeout.
func (l *Logs) WaitFor(t testing.TB, msg string, timeout time.Duration) LogLine {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if lines := l.Lines(msg); len(lines) > 0 {
			return lines[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q logged within %s; logged: %s", msg, timeout, l.messages())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (l *Logs) messages() string {
	l.store.mu.Lock()
	defer l.store.mu.Unlock()
	var out []string
	for _, line := range l.store.lines {
		out = append(out, line.Msg)
	}
	return fmt.Sprint(out)
}
