package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestBrowserPublishesOverWHIP opens the /publish page in headless Chromium with a fake camera and
// microphone, lets it publish over WHIP, and checks through the WCS-compatible API that the stream
// is PUBLISHING with the chosen video codec and opus audio.
func TestBrowserPublishesOverWHIP(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skipf("chromium is not installed (%v): install Debian's chromium package to run this test; CI does", err)
	}
	// Checked after every subtest and its cleanups have run: the servers are stopped and the
	// browsers are gone by then, so nothing of this test may still run.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	for _, tc := range []struct{ codec, stream string }{
		{codec: "VP8", stream: "browser-vp8"},
		{codec: "H264", stream: "browser-h264"},
	} {
		t.Run(tc.codec, func(t *testing.T) {
			s := startServer(t, nil)
			page := s.base + "/publish?" + url.Values{
				"stream": {tc.stream}, "codec": {tc.codec}, "autostart": {"1"},
			}.Encode()

			b := startChromium(t, chromium)
			defer b.stop(t)

			// On any failure below, say what the page and the server saw.
			var lastFind string
			defer func() {
				if t.Failed() {
					code, body, err := wcsFindStream(s.http, s.base, tc.stream)
					find := fmt.Sprintf("%d %s", code, body)
					if err != nil {
						find = err.Error()
					}
					t.Errorf("diagnostics for %s: page %s; POST /rest-api/stream/find {\"name\":%q} answers %s (last poll: %s)\nchromium output (tail):\n%s",
						page, b.pageState(), tc.stream, find, lastFind, b.output.tail(4096))
				}
			}()

			navCtx, navCancel := context.WithTimeout(b.ctx, 30*time.Second)
			err := chromedp.Do(navCtx, chromedp.Navigate(page))
			navCancel()
			require.NoError(t, err, "open %s", page)

			var got wcsFoundStream
			s.waitFor(fmt.Sprintf("%s to be PUBLISHING with video and audio codecs", tc.stream), 45*time.Second, func() bool {
				code, body, err := wcsFindStream(s.http, s.base, tc.stream)
				lastFind = fmt.Sprintf("%d %s", code, body)
				if err != nil {
					lastFind = err.Error()
					return false
				}
				if code != http.StatusOK {
					return false
				}
				var found []wcsFoundStream
				if err := json.Unmarshal([]byte(body), &found); err != nil || len(found) != 1 {
					return false
				}
				got = found[0]
				return got.Status == "PUBLISHING" && got.VideoCodec != "" && got.AudioCodec != ""
			})
			require.Equal(t, tc.stream, got.Name, lastFind)
			require.Equal(t, tc.codec, got.VideoCodec, "video codec; %s", lastFind)
			require.Equal(t, "opus", got.AudioCodec, "audio codec; %s", lastFind)
			t.Logf("find answers %s", lastFind)

			// The page says so too, once its peer connection is up.
			s.waitFor("the page to show publishing", 10*time.Second, func() bool {
				return b.status() == "publishing"
			})
		})
	}
}

// wcsFoundStream holds the fields of a /rest-api/stream/find answer that the browser test checks.
type wcsFoundStream struct {
	Name       string `json:"name"`
	Status     string `json:"status"`
	VideoCodec string `json:"videoCodec"`
	AudioCodec string `json:"audioCodec"`
}

// wcsFindStream asks POST /rest-api/stream/find for name. It does not touch a *testing.T, so it can run
// while a test is failing.
func wcsFindStream(client *http.Client, base, name string) (int, string, error) {
	q, err := json.Marshal(map[string]string{"name": name})
	if err != nil {
		return 0, "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/rest-api/stream/find", bytes.NewReader(q))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body)), err
}

// chromiumBrowser is one headless Chromium with one tab.
type chromiumBrowser struct {
	ctx         context.Context // the tab's chromedp context
	cancel      context.CancelFunc
	allocCancel context.CancelFunc
	dir         string // holds the profile and HOME, and so appears in the command line of every process
	output      *chromiumOutput
}

// startChromium starts headless Chromium with a fake camera and microphone whose permission prompts
// are answered yes. Call stop when done.
func startChromium(t *testing.T, execPath string) *chromiumBrowser {
	t.Helper()
	b := &chromiumBrowser{dir: t.TempDir(), output: &chromiumOutput{}}
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(),
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
		chromedp.Env("HOME="+b.dir),
		chromedp.CombinedOutput(b.output),
	)
	b.allocCancel = allocCancel
	b.ctx, b.cancel = chromedp.NewContext(allocCtx)
	// Start the browser now, so that a browser that cannot start fails here and not in the middle.
	if err := chromedp.Do(b.ctx); err != nil {
		b.stop(t)
		t.Fatalf("start %s: %v\nchromium output:\n%s", execPath, err, b.output.tail(4096))
	}
	return b
}

// stop closes the browser, waits until its process has exited, and checks that no other process of
// it is left.
func (b *chromiumBrowser) stop(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
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

// chromiumPageStateJS describes the publishing page: its #status text and the state of its peer connection.
const chromiumPageStateJS = `(() => {
  const el = document.getElementById("status");
  let out = "#status " + JSON.stringify(el ? el.textContent : null);
  try {
    if (pc) out += ", connectionState " + pc.connectionState + ", iceConnectionState " + pc.iceConnectionState;
  } catch (e) { /* not the publishing page */ }
  return out;
})()`

// pageState returns chromiumPageStateJS's answer, or why it could not be read.
func (b *chromiumBrowser) pageState() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	state, err := chromedp.Run(ctx, chromedp.Evaluate[string](chromiumPageStateJS))
	if err != nil {
		return fmt.Sprintf("state unreadable: %v", err)
	}
	return state
}

// status returns the page's #status text, or "" if it cannot be read.
func (b *chromiumBrowser) status() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("status").textContent`))
	if err != nil {
		return ""
	}
	return text
}

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
