package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vigilrec/vigil/internal/testutil"
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

			b := testutil.StartChromium(t, chromium)
			defer b.Stop(t)

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
						page, pageState(b), tc.stream, find, lastFind, b.Output(4096))
				}
			}()

			navCtx, navCancel := context.WithTimeout(b.Ctx, 30*time.Second)
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
				return pageStatus(b) == "publishing"
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

// chromiumPageStateJS describes the publishing page: its status text and the state of its peer connection.
const chromiumPageStateJS = `(() => {
  const el = document.getElementById("publish-status");
  let out = "#publish-status " + JSON.stringify(el ? el.textContent : null);
  const p = window.vigil && window.vigil.publisher;
  if (p) out += ", connectionState " + p.pc.connectionState + ", iceConnectionState " + p.pc.iceConnectionState;
  return out;
})()`

// pageState returns chromiumPageStateJS's answer, or why it could not be read.
func pageState(b *testutil.Chromium) string {
	ctx, cancel := context.WithTimeout(b.Ctx, 5*time.Second)
	defer cancel()
	state, err := chromedp.Run(ctx, chromedp.Evaluate[string](chromiumPageStateJS))
	if err != nil {
		return fmt.Sprintf("state unreadable: %v", err)
	}
	return state
}

// pageStatus returns the publishing page's status text, or "" if it cannot be read.
func pageStatus(b *testutil.Chromium) string {
	ctx, cancel := context.WithTimeout(b.Ctx, 5*time.Second)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("publish-status").textContent`))
	if err != nil {
		return ""
	}
	return text
}
