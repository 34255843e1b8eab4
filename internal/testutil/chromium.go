package testutil

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium is one headless Chromium with one tab.
type Chromium struct {
	// Ctx is the tab's chromedp context; run actions with chromedp.Run(Ctx, …).
	Ctx         context.Context //nolint:containedctx // chromedp addresses a tab by its context
	cancel      context.CancelFunc
	allocCancel context.CancelFunc
	dir         string // holds the profile and HOME, and so appears in the command line of every process
	output      *chromiumOutput
}

// StartChromium starts headless Chromium (the binary at execPath) with a fake camera and
// microphone whose permission prompts are answered yes, and any extra options (flags). Call
// Stop when done.
func StartChromium(t testing.TB, execPath string, extra ...chromedp.ExecAllocatorOption) *Chromium {
	t.Helper()
	b := &Chromium{dir: t.TempDir(), output: &chromiumOutput{}}
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(execPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // we may run as root, as CI does
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("user-data-dir", filepath.Join(b.dir, "profile")),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		// Debian's Chromium always starts a crash handler, which keeps its reports under
		// $HOME/.config/chromium and has no --user-data-dir: keep it in the test's directory too.
		chromedp.Env("HOME=" + b.dir),
		chromedp.CombinedOutput(b.output),
	}, extra...)
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	b.allocCancel = allocCancel
	b.Ctx, b.cancel = chromedp.NewContext(allocCtx)
	// Start the browser now, so that a browser that cannot start fails here and not in the middle.
	if err := chromedp.Do(b.Ctx); err != nil {
		b.Stop(t)
		t.Fatalf("start %s: %v\nchromium output:\n%s", execPath, err, b.Output(4096))
	}
	return b
}

// Stop closes the browser, waits until its process has exited, and checks that no other process of
// it is left.
func (b *Chromium) Stop(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 10*time.Second)
	if err := chromedp.Cancel(ctx); err != nil {
		t.Logf("closing chromium: %v", err) // it is killed below all the same
	}
	cancel()
	b.cancel()
	b.allocCancel() // kills the browser if it is still running, and waits for it to exit
	// The children and the crash handlers end on their own once the browser has gone.
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := processesMentioning(b.dir)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("chromium processes are still running after the browser was closed:\n%s", strings.Join(left, "\n"))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Output returns the last n bytes of the browser's output, without the lines that only say that
// there is no D-Bus, which a container has none of.
func (b *Chromium) Output(n int) string { return b.output.tail(n) }

// processesMentioning returns "PID COMMAND LINE" for each process that has dir in an argument.
func processesMentioning(dir string) []string {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var found []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !bytes.Contains(cmdline, []byte(dir)) {
			continue
		}
		found = append(found, e.Name()+" "+string(bytes.ReplaceAll(bytes.TrimRight(cmdline, "\x00"), []byte{0}, []byte{' '})))
	}
	return found
}

// chromiumOutput collects the browser's output, which chromedp writes from its own goroutine.
type chromiumOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *chromiumOutput) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// tail returns the last n bytes of the output, without the lines that only say that there is no
// D-Bus, which a container has none of.
func (l *chromiumOutput) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var keep []string
	for line := range strings.Lines(l.buf.String()) {
		if !strings.Contains(line, ":ERROR:dbus/") {
			keep = append(keep, line)
		}
	}
	out := strings.Join(keep, "")
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}
