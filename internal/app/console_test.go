package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vigilrec/vigil/internal/auth"
	"github.com/vigilrec/vigil/internal/config"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/publish"
	"github.com/vigilrec/vigil/internal/rtc"
	"github.com/vigilrec/vigil/internal/testutil"
)

// tab is one Chromium tab of a console test.
type tab struct {
	t   *testing.T
	ctx context.Context //nolint:containedctx // chromedp addresses a tab by its context
}

func newTab(t *testing.T, b *testutil.Chromium) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.Ctx)
	t.Cleanup(cancel)
	// The first run opens the tab and must have no deadline: the tab lives as long as its context.
	require.NoError(t, chromedp.Do(ctx))
	tb := &tab{t: t, ctx: ctx}
	tb.do(chromedp.EmulateViewport(1280, 800))
	return tb
}

func (tb *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, testutil.Scaled(30*time.Second))
	defer cancel()
	require.NoError(tb.t, chromedp.Do(ctx, actions...))
}

func (tb *tab) open(url string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("body")))
}

// eval runs a JavaScript expression in the page (awaiting a promise) and decodes its value into out.
func (tb *tab) eval(js string, out any) error {
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](js, chromedp.EvalAwaitPromise))
	if out == nil && (errors.Is(err, chromedp.ErrJSUndefined) || errors.Is(err, chromedp.ErrJSNull)) {
		return nil
	}
	if err != nil || out == nil {
		return err
	}
	return json.Unmarshal(raw, out)
}

// goTo switches the console to a view, as its navigation links do.
func (tb *tab) goTo(view string) {
	tb.t.Helper()
	require.NoError(tb.t, tb.eval(fmt.Sprintf(`location.hash = %q`, "#"+view), nil))
}

func (tb *tab) text(selector string) string {
	var s string
	if err := tb.eval(fmt.Sprintf(`(document.querySelector(%q) || {textContent: ""}).textContent`, selector), &s); err != nil {
		return ""
	}
	return s
}

// click clicks the element in one evaluation, so a list that is redrawn meanwhile cannot leave
// the click on a detached node.
func (tb *tab) click(selector string) {
	tb.t.Helper()
	var ok bool
	require.NoError(tb.t, tb.eval(fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false; e.click(); return true; })()`, selector), &ok))
	require.True(tb.t, ok, "no element %s to click", selector)
}

func (tb *tab) set(selector, value string) {
	tb.t.Helper()
	var ok bool
	require.NoError(tb.t, tb.eval(fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false; e.value = %q; e.dispatchEvent(new Event("input")); e.dispatchEvent(new Event("change")); return true; })()`, selector, value), &ok))
	require.True(tb.t, ok, "no field %s", selector)
}

// holds polls a JavaScript condition.
func (tb *tab) holds(js string) bool {
	var ok bool
	return tb.eval(js, &ok) == nil && ok
}

// screenshot saves the tab at 1280×800 as name.png: into docs/console with
// VIGIL_UPDATE_SCREENSHOTS=1, else into the test's directory.
func (tb *tab) screenshot(dir, name string) {
	tb.t.Helper()
	tb.do(chromedp.EmulateViewport(1280, 800))
	ctx, cancel := context.WithTimeout(tb.ctx, testutil.Scaled(30*time.Second))
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(tb.t, err)
	require.NoError(tb.t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
}

// node is a server that a test can stop and start again on the same address and directory.
type node struct {
	*testServer
	cfg  config.Config
	stop func()
}

func startNode(t *testing.T) *node {
	t.Helper()
	cfg := config.Default()
	cfg.HTTP, cfg.UDP, cfg.Dir = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	n := &node{cfg: cfg}
	api, err := rtc.NewClientAPI(testLogger(t))
	require.NoError(t, err)
	n.testServer = &testServer{t: t, api: api, http: &http.Client{Transport: &http.Transport{}}}
	t.Cleanup(n.testServer.http.CloseIdleConnections)
	n.start()
	t.Cleanup(func() { n.stop() })
	return n
}

func (n *node) start() {
	t := n.t
	t.Helper()
	a, err := New(n.cfg, testLogger(t))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	n.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("server did not stop within 30 s")
		}
	}
	n.app = a
	n.base = "http://" + a.HTTPAddr().String()
	n.cfg.HTTP = a.HTTPAddr().String() // the same address when started again
	n.waitFor("server ready", 10*time.Second, func() bool {
		resp, err := n.http.Get(n.base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

var shownBytes = regexp.MustCompile(`^([0-9.]+) (B|KiB|MiB|GiB|TiB)$`)

// parseShownBytes reads the console's byte figures ("12.34 GiB") and the rounding they carry.
func parseShownBytes(t *testing.T, s string) (value, rounding float64) {
	t.Helper()
	m := shownBytes.FindStringSubmatch(strings.TrimSpace(s))
	require.NotNil(t, m, "a byte figure: %q", s)
	v, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	unit := map[string]float64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[m[2]]
	return v * unit, 0.005 * unit
}

var shownDuration = regexp.MustCompile(`^(\d+) (d|h|min|s)(?: (\d+) (h|min|s))?$`)

// parseShownDuration reads the console's durations ("3 h 07 min") and the rounding they carry.
func parseShownDuration(t *testing.T, s string) (value, rounding float64) {
	t.Helper()
	m := shownDuration.FindStringSubmatch(strings.TrimSpace(s))
	require.NotNil(t, m, "a duration: %q", s)
	unit := map[string]float64{"d": 86400, "h": 3600, "min": 60, "s": 1}
	a, _ := strconv.ParseFloat(m[1], 64)
	value, rounding = a*unit[m[2]], unit[m[2]]
	if m[3] != "" {
		b, _ := strconv.ParseFloat(m[3], 64)
		value, rounding = value+b*unit[m[4]], unit[m[4]]
	}
	return value, rounding
}

// TestConsole drives the web console in headless Chromium with a fake camera, as a user would:
// publish from it and watch on /watch; see a lossy stream flagged; record, play, download and
// delete; compare the storage page with the API; pull three copies from a second node and stop
// them; lose the server under the page and get it back. It takes the screenshots of
// docs/console.md on the way.
func TestConsole(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skipf("chromium is not installed (%v): install Debian's chromium package to run this test; CI does", err)
	}
	// Registered first, so it runs last: after the servers and the browser have stopped.
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })

	shots := t.TempDir()
	if os.Getenv("VIGIL_UPDATE_SCREENSHOTS") != "" {
		shots = filepath.Join("..", "..", "docs", "console")
		require.NoError(t, os.MkdirAll(shots, 0o755))
	}

	a := startServer(t, nil)
	b := testutil.StartChromium(t, chromium)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chromium output (tail):\n%s", b.Output(4096))
		}
		b.Stop(t)
	})
	console := newTab(t, b)
	console.open(a.base + "/#streams")

	// a. Publish from the console; the stream is listed; its player plays video and audio.
	const cam = "console-cam"
	publisher := newTab(t, b)
	publisher.open(a.base + "/publish")
	publisher.set("#publish-stream", cam)
	publisher.set("#publish-resolution", "240p")
	publisher.set("#publish-codec", "VP8")
	publisher.click("#publish-start")
	a.waitFor(cam+" publishing video and audio", 45*time.Second, func() bool {
		st, ok := a.stream(cam)
		return ok && st["status"] == "publishing" && st["video"] != nil && st["audio"] != nil
	})
	publishingAt := time.Now()
	rowSel := fmt.Sprintf(`tr[data-stream=%q]`, cam)
	a.waitFor(cam+" in the Streams list", 3*time.Second, func() bool {
		return strings.Contains(console.text(rowSel+" .c-codec"), "vp8")
	})
	t.Logf("listed %s after the server saw it publishing", time.Since(publishingAt).Round(time.Millisecond))
	a.waitFor("the publish page to say publishing", 15*time.Second, func() bool {
		return publisher.text("#publish-status") == "publishing"
	})

	watcher := newTab(t, b)
	watcher.open(a.base + "/watch/" + cam)
	a.waitFor("the player to show video", 30*time.Second, func() bool {
		return watcher.holds(`(() => { const v = document.getElementById("video"); return v.videoWidth > 0 && v.currentTime > 0; })()`)
	})
	var last float64
	require.NoError(t, watcher.eval(`document.getElementById("video").currentTime`, &last))
	for range 3 {
		time.Sleep(time.Second) // the check is that playback moves on with the wall clock
		var now float64
		require.NoError(t, watcher.eval(`document.getElementById("video").currentTime`, &now))
		require.Greater(t, now, last, "the player's currentTime does not advance")
		last = now
	}
	audioPackets := func() float64 {
		var n float64
		require.NoError(t, watcher.eval(`(async () => {
			const pc = window.vigil.player.session.pc;
			const live = pc.getReceivers().some((r) => r.track.kind === "audio" && r.track.readyState === "live");
			if (!live) return -1;
			let n = 0;
			(await pc.getStats()).forEach((r) => { if (r.type === "inbound-rtp" && r.kind === "audio") n = r.packetsReceived; });
			return n;
		})()`, &n))
		return n
	}
	first := audioPackets()
	require.GreaterOrEqual(t, first, 0.0, "the player's audio track is not live")
	a.waitFor("audio packets to keep arriving", 10*time.Second, func() bool { return audioPackets() > first })
	watcher.screenshot(shots, "watch")

	// e. A publisher that loses 10 % of its packets for good is flagged with its reason.
	a.publishWith("lossy-cam", media.H264, "240p", func(o *publish.Options) { o.DropEvery = 10 })
	lossyRow := `tr[data-stream="lossy-cam"] .c-health`
	a.waitFor("lossy-cam flagged degraded for loss", 30*time.Second, func() bool {
		h := console.text(lossyRow)
		return strings.Contains(h, "degraded") && strings.Contains(h, "loss")
	})
	require.True(t, console.holds(`document.querySelector('tr[data-stream="lossy-cam"]').classList.contains("degraded")`))
	require.NotContains(t, console.text(rowSel+" .c-health"), "degraded", "the healthy stream is flagged")

	// The console's own player, opened before the recording so that the recording lasts what
	// the test asks of it.
	console.click(rowSel + " button.watch")
	a.waitFor("the console's player to show video", 30*time.Second, func() bool {
		return console.holds(`document.getElementById("player-video").videoWidth > 0`)
	})

	// d. The storage page shows what the API says, while a recording (of another stream) writes.
	a.publish("disk-cam", media.H264)
	a.waitFor("disk-cam publishing", 15*time.Second, func() bool { return a.publishing("disk-cam") })
	status, body, _ := a.request(http.MethodPost, "/api/v1/streams/disk-cam/recording", "application/json", `{}`)
	require.Equal(t, http.StatusCreated, status, body)
	a.waitFor("the list to show disk-cam recording", 10*time.Second, func() bool {
		return strings.Contains(console.text(`tr[data-stream="disk-cam"] .c-recording`), "recording")
	})
	console.screenshot(shots, "streams")
	console.goTo("storage")
	a.waitFor("the storage page to show figures", 15*time.Second, func() bool {
		return console.text("#st-free") != "—" && console.text("#st-ttf") != "—"
	})
	var storage struct {
		Disk struct {
			Free       float64
			TimeToFull *float64
		}
	}
	a.waitFor("the storage page to agree with /api/v1/storage", 20*time.Second, func() bool {
		shownFree, shownTTF := console.text("#st-free"), console.text("#st-ttf")
		status, body, _ := a.request(http.MethodGet, "/api/v1/storage", "", "")
		require.Equal(t, http.StatusOK, status, body)
		require.NoError(t, json.Unmarshal([]byte(body), &storage))
		free, round := parseShownBytes(t, shownFree)
		// The page polls every 2 s: what was written meanwhile (a few hundred kB) is allowed too.
		if d := free - storage.Disk.Free; d > round+4<<20 || d < -round-4<<20 {
			t.Logf("free: page %q, API %.0f", shownFree, storage.Disk.Free)
			return false
		}
		if storage.Disk.TimeToFull == nil || shownTTF == "not filling" {
			return false // not yet measured, by the API or by the page's last poll
		}
		ttf, round := parseShownDuration(t, shownTTF)
		// The time to full follows the smoothed write rate, which moves between two reads.
		if d := ttf - *storage.Disk.TimeToFull; d > round+0.1**storage.Disk.TimeToFull || d < -round-0.1**storage.Disk.TimeToFull {
			t.Logf("time to full: page %q, API %.0f s", shownTTF, *storage.Disk.TimeToFull)
			return false
		}
		return true
	})
	t.Logf("storage page: free %q, time to full %q", console.text("#st-free"), console.text("#st-ttf"))
	console.screenshot(shots, "storage")
	status, body, _ = a.request(http.MethodDelete, "/api/v1/streams/disk-cam/recording", "", "")
	require.Equal(t, http.StatusOK, status, body)

	// b. Record from the console for 5 s, stop, then play, download and delete the recording.
	console.goTo("streams")
	a.waitFor("the record button", 10*time.Second, func() bool {
		return console.text(rowSel+" button.record") == "Record"
	})
	console.set("#record-rotation", "off")
	console.click(rowSel + " button.record")
	a.waitFor("the list to show the recording", 10*time.Second, func() bool {
		return strings.Contains(console.text(rowSel+" .c-recording"), "recording") &&
			console.text(rowSel+" button.record") == "Stop recording"
	})
	a.waitFor(cam+" recording for 5 s", 30*time.Second, func() bool {
		status, body, _ := a.request(http.MethodGet, "/api/v1/streams/"+cam+"/recording", "", "")
		var rec struct{ Duration float64 }
		return status == http.StatusOK && json.Unmarshal([]byte(body), &rec) == nil && rec.Duration >= 5
	})
	console.click(rowSel + " button.record")
	a.waitFor("the recording to stop", 30*time.Second, func() bool {
		status, _, _ := a.request(http.MethodGet, "/api/v1/streams/"+cam+"/recording", "", "")
		return status == http.StatusNotFound
	})
	segs := a.segments("stream=" + cam)
	require.Len(t, segs, 1, "one file for a recording without rotation")
	seg := segs[0]
	require.Equal(t, "closed", seg.State)

	console.goTo("recordings")
	segSel := fmt.Sprintf(`tr[data-segment=%q]`, seg.ID)
	a.waitFor("the recording in the Recordings list", 15*time.Second, func() bool {
		return console.holds(fmt.Sprintf(`!!document.querySelector(%q)`, segSel+" button.play"))
	})
	require.NoError(t, console.eval(`(() => { const v = document.getElementById("rec-video");
		window.recErrors = 0; v.addEventListener("error", () => { window.recErrors++; }); })()`, nil))
	console.click(segSel + " button.play")
	a.waitFor("the recording to play in the page", 30*time.Second, func() bool {
		return console.holds(`document.getElementById("rec-video").readyState >= 3`)
	})
	var played struct {
		Duration float64 `json:"duration"`
		Errors   int     `json:"errors"`
		Error    any     `json:"error"`
	}
	require.NoError(t, console.eval(`(() => { const v = document.getElementById("rec-video");
		return {duration: v.duration, errors: window.recErrors, error: v.error && v.error.message}; })()`, &played))
	require.Zero(t, played.Errors, "error events of the page's <video>")
	require.Nil(t, played.Error)
	require.GreaterOrEqual(t, played.Duration, 4.0, "the recording's duration in the page")
	require.LessOrEqual(t, played.Duration, 7.0, "the recording's duration in the page")
	console.screenshot(shots, "recordings")

	// A range of the stream through GET /api/v1/playback, from the same page.
	from, to := seg.Start.Add(time.Second), seg.Start.Add(4*time.Second)
	require.NoError(t, console.eval(fmt.Sprintf(`(() => {
		const local = (ms) => { const d = new Date(ms); const p = (n) => String(n).padStart(2, "0");
			return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + "T" + p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds()); };
		document.getElementById("range-stream").value = %q;
		document.getElementById("range-from").value = local(%d);
		document.getElementById("range-to").value = local(%d);
	})()`, cam, from.UnixMilli(), to.UnixMilli()), nil))
	console.click("#range-play")
	a.waitFor("the range to play in the page", 30*time.Second, func() bool {
		return console.holds(`document.getElementById("rec-video").src.includes("/api/v1/playback?") && document.getElementById("rec-video").readyState >= 3`)
	})
	require.NoError(t, console.eval(`(() => { const v = document.getElementById("rec-video");
		return {duration: v.duration, errors: window.recErrors, error: v.error && v.error.message}; })()`, &played))
	t.Logf("range %s–%s plays for %.3f s", from.Format("15:04:05"), to.Format("15:04:05"), played.Duration)
	require.Nil(t, played.Error)
	// Whole seconds in the form; the file starts at the keyframe at or before its start.
	require.GreaterOrEqual(t, played.Duration, 2.0)
	require.LessOrEqual(t, played.Duration, 5.5)
	require.False(t, console.holds(`document.getElementById("range-download").hidden`))

	var pageHash string
	require.NoError(t, console.eval(fmt.Sprintf(`(async () => {
		const a = document.querySelector(%q);
		if (!a.hasAttribute("download")) return "the link does not download";
		const body = await (await fetch(a.href)).arrayBuffer();
		const sum = await crypto.subtle.digest("SHA-256", body);
		return Array.from(new Uint8Array(sum)).map((b) => b.toString(16).padStart(2, "0")).join("");
	})()`, segSel+" a.download"), &pageHash))
	status, body, _ = a.request(http.MethodGet, "/api/v1/recordings/"+seg.ID, "", "")
	require.Equal(t, http.StatusOK, status)
	apiHash := sha256.Sum256([]byte(body))
	require.Equal(t, hex.EncodeToString(apiHash[:]), pageHash, "the page's download and the API's bytes")

	console.click(segSel + " button.delete")
	a.waitFor("the confirmation", 5*time.Second, func() bool { return console.holds(`document.getElementById("confirm-dialog").open`) })
	console.click("#confirm-yes")
	a.waitFor("the deleted recording to leave the list", 15*time.Second, func() bool {
		return console.holds(fmt.Sprintf(`!document.querySelector(%q)`, segSel))
	})
	require.Equal(t, "deleted", a.segments("stream=" + cam)[0].State)

	// c. Pull three copies from a second node, see them play, stop them all.
	bNode := startNode(t)
	console.open(bNode.base + "/#pull")
	console.set("#pull-source", a.base)
	console.set("#pull-remote", cam)
	console.set("#pull-local", "Stream-")
	console.set("#pull-qty", "3")
	console.click("#pull-start")
	a.waitFor("three pulls playing", 30*time.Second, func() bool {
		return console.holds(`document.querySelectorAll('#pulls-table tr[data-state="playing"]').length === 3`)
	})
	pullsPlaying, reported := time.Now(), false
	console.screenshot(shots, "pull")
	console.goTo("streams")
	bNode.waitFor("Stream-1..3 playing in the list", 30*time.Second, func() bool {
		for i := 1; i <= 3; i++ {
			sel := fmt.Sprintf(`tr[data-stream="Stream-%d"]`, i)
			if !strings.Contains(console.text(sel+" .c-codec"), "vp8") || console.text(sel+" .c-bitrate") == "0 kb/s" {
				if time.Since(pullsPlaying) > 20*time.Second && !reported {
					reported = true
					st, _ := a.stream(cam)
					_, pulls, _ := bNode.request(http.MethodGet, "/api/v1/pulls", "", "")
					t.Logf("row %d reads %q; at the source %s: plis %v keyframes %v subscribers %v; pulls %s", i,
						console.text(sel), cam, st["plis"], st["video"].(map[string]any)["keyframes"], st["subscribers"], pulls)
				}
				return false
			}
		}
		return true
	})
	console.goTo("pull")
	a.waitFor("the pulls listed", 10*time.Second, func() bool {
		return console.holds(`document.querySelectorAll('#pulls-table tbody tr').length === 3 && !document.getElementById("pull-stop-all").disabled`)
	})
	console.click("#pull-stop-all")
	a.waitFor("the confirmation", 5*time.Second, func() bool { return console.holds(`document.getElementById("confirm-dialog").open`) })
	console.click("#confirm-yes")
	a.waitFor("the pulls gone", 30*time.Second, func() bool {
		return console.holds(`document.querySelectorAll('#pulls-table tbody tr').length === 0`) && len(bNode.pulls()) == 0
	})
	status, body, _ = bNode.request(http.MethodGet, "/api/v1/streams", "", "")
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"streams":[]}`, body, "the pulled streams are gone")

	// f. The server goes away under the page, and comes back.
	console.goTo("streams")
	bNode.stop()
	a.waitFor("the page to say the server does not answer", 15*time.Second, func() bool {
		return console.holds(`!document.getElementById("banner").hidden`) &&
			strings.Contains(console.text("#banner"), "does not answer")
	})
	t.Logf("banner: %s", console.text("#banner"))
	bNode.start()
	a.waitFor("the page to recover", 15*time.Second, func() bool {
		return console.holds(`document.getElementById("banner").hidden`) && console.text("#streams-count") == "0 live"
	})

	// The publishing page, last: its screenshot shows the stream's live figures.
	a.waitFor("the publish page's figures", 10*time.Second, func() bool {
		return strings.Contains(publisher.text("#publish-stats"), "publishing")
	})
	publisher.screenshot(shots, "publish")
	publisher.click("#publish-stop")
	a.waitFor(cam+" to end", 15*time.Second, func() bool {
		_, ok := a.stream(cam)
		return !ok
	})
}

// TestConsoleAsksForAToken: beyond the trusted networks the console asks for a token, keeps it
// in the tab's sessionStorage (no cookie), and works with it; a wrong one is asked for again.
func TestConsoleAsksForAToken(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skipf("chromium is not installed (%v): install Debian's chromium package to run this test; CI does", err)
	}
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	s := startServer(t, func(c *config.Config) {
		c.Auth.TrustedNetworks = nil // the browser is on loopback: trust nothing
		c.Auth.Tokens = config.Tokens{{Name: "ops", SHA256: auth.HashToken("ops-secret"), Scopes: []string{"admin"}}}
	})
	b := testutil.StartChromium(t, chromium)
	t.Cleanup(func() { b.Stop(t) })
	console := newTab(t, b)

	console.open(s.base + "/#streams")
	s.waitFor("the token prompt", 15*time.Second, func() bool {
		return console.holds(`document.getElementById("token-dialog").open`)
	})
	require.Contains(t, console.text("#token-reason"), "bearer token is required")

	console.set("#token-input", "wrong")
	console.click("#token-save")
	s.waitFor("the prompt again for a wrong token", 15*time.Second, func() bool {
		return console.holds(`document.getElementById("token-dialog").open`) &&
			strings.Contains(console.text("#token-reason"), "invalid token")
	})

	console.set("#token-input", "ops-secret")
	console.click("#token-save")
	s.publishWith("cam-auth", media.H264, "240p", withToken("ops-secret"))
	s.waitFor("the streams listed with the token", 30*time.Second, func() bool {
		return strings.Contains(console.text(`tr[data-stream="cam-auth"] .c-codec`), "h264")
	})
	var stored struct {
		Session string `json:"session"`
		Cookie  string `json:"cookie"`
	}
	require.NoError(t, console.eval(`({session: sessionStorage.getItem("vigil-token"), cookie: document.cookie})`, &stored))
	require.Equal(t, "ops-secret", stored.Session)
	require.Empty(t, stored.Cookie)
	require.True(t, console.holds(`!document.getElementById("token-dialog").open`))
}
