package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/testutil"
)

// TestBenchEndToEnd runs the vigil binary's bench command as users do: the brief's pull test
// with five streams, the direct topology against a separate server sampled by PID, and a
// recorder killed in the middle of a run.
func TestBenchEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs vigil bench for about two minutes")
	}
	bin := testutil.BuildVigil(t)

	t.Run("pull 5 streams", func(t *testing.T) { testBenchPull(t, bin) })
	t.Run("direct against another server", func(t *testing.T) { testBenchDirectTarget(t, bin) })
	t.Run("recorder killed", func(t *testing.T) { testBenchRecorderKilled(t, bin) })
}

// benchCmd is `vigil bench args…` with its combined output collected line by line.
type benchCmd struct {
	cmd   *exec.Cmd
	lines chan string
	mu    sync.Mutex
	all   strings.Builder
	done  chan struct{}
	err   error
}

func startBench(t *testing.T, bin string, args ...string) *benchCmd {
	t.Helper()
	b := &benchCmd{cmd: exec.Command(bin, append([]string{"bench"}, args...)...), lines: make(chan string, 1000),
		done: make(chan struct{})}
	b.cmd.Env = testutil.WithoutVigilVars(os.Environ())
	pr, pw := io.Pipe()
	b.cmd.Stdout, b.cmd.Stderr = pw, pw
	require.NoError(t, b.cmd.Start())
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			b.mu.Lock()
			b.all.WriteString(sc.Text() + "\n")
			b.mu.Unlock()
			select {
			case b.lines <- sc.Text():
			default:
			}
		}
		close(b.lines)
	}()
	go func() {
		b.err = b.cmd.Wait()
		pw.Close()
		close(b.done)
	}()
	t.Cleanup(func() {
		_ = b.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.done:
		case <-time.After(2 * time.Minute):
			_ = b.cmd.Process.Kill()
			<-b.done
		}
	})
	return b
}

func (b *benchCmd) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.all.String()
}

// wait returns the exit code once bench exits, failing the test after timeout.
func (b *benchCmd) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(timeout):
		t.Fatalf("bench did not exit within %s; output:\n%s", timeout, b.output())
	}
	var exit *exec.ExitError
	if errors.As(b.err, &exit) {
		return exit.ExitCode()
	}
	require.NoError(t, b.err)
	return 0
}

// waitLine returns the first submatches of re in a line printed before timeout.
func (b *benchCmd) waitLine(t *testing.T, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case line, ok := <-b.lines:
			if !ok {
				t.Fatalf("bench exited before printing %s:\n%s", re, b.output())
			}
			if m := re.FindStringSubmatch(line); m != nil {
				return m
			}
		case <-deadline:
			t.Fatalf("bench printed no line matching %s within %s:\n%s", re, timeout, b.output())
		}
	}
}

func testBenchPull(t *testing.T, bin string) {
	out := t.TempDir()
	b := startBench(t, bin, "--topology", "pull", "--streams", "5", "--profile", "240p", "--duration", "20s", "--out", out)
	code := b.wait(t, 5*time.Minute)
	t.Logf("bench output:\n%s", b.output())
	require.Equal(t, 0, code)
	r, err := LoadReport(filepath.Join(out, "report.json"))
	require.NoError(t, err)
	f := r.Figures
	require.Equal(t, 5, f.FilesValid)
	require.Equal(t, 5, f.FilesTotal)
	require.Equal(t, 5, f.Streams)
	require.Zero(t, f.StreamsLost)
	require.Positive(t, f.CPUPerStreamMin)
	require.Positive(t, f.PeakRSSMB)
	require.InDelta(t, 20, f.Window, 3)
	require.GreaterOrEqual(t, f.WritesPerStreamSec, 0.5)
	require.LessOrEqual(t, f.WritesPerStreamSec, 3.0)
	require.GreaterOrEqual(t, len(r.Samples), 20)
	for _, s := range r.Streams {
		require.Equal(t, "ok", s.State, s.Name)
		require.Len(t, s.Files, 1, s.Name)
		// Recorded from its own start (up to the window's: the last stream to start opens it)
		// plus at most one 2 s group of pictures of pre-roll.
		span := r.WindowEnd - s.Files[0].Start
		t.Logf("%s: %.2f s of video from %.2f s to %.2f s, audio %.2f s off the video", s.Name, s.Recorded,
			s.Files[0].Start, r.WindowEnd, s.AVOffset)
		require.GreaterOrEqual(t, s.Recorded, f.Window-1, s.Name)
		require.LessOrEqual(t, s.Recorded, span+2.5, s.Name)
	}
	t.Run("report.html in Chromium", func(t *testing.T) { checkReportInBrowser(t, filepath.Join(out, "report.html")) })
}

// checkReportInBrowser opens report.html in headless Chromium: every chart has a drawn line
// and the page logs no error.
func checkReportInBrowser(t *testing.T, page string) {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skipf("chromium is not installed (%v): install Debian's chromium package to run this test; CI does", err)
	}
	br := testutil.StartChromium(t, chromium)
	defer br.Stop(t)
	var mu sync.Mutex
	var problems []string
	err = chromedp.Listen(br.Ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				problems = append(problems, fmt.Sprintf("console.error %v", ev.Args))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception "+ev.ExceptionDetails.Text)
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError {
				problems = append(problems, "log "+ev.Entry.Text+" "+ev.Entry.URL)
			}
		}
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(br.Ctx, 60*time.Second)
	defer cancel()
	// chromedp enables the Runtime and Log domains of the tab itself.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("file://"+page), chromedp.WaitReady("body")), br.Output(4096))
	charts, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("figure svg").length`))
	require.NoError(t, err, br.Output(4096))
	drawn, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll("figure svg")].filter(svg =>
		[...svg.querySelectorAll("path.series")].some(p => p.getAttribute("d") && p.getTotalLength() > 0)).length`))
	require.NoError(t, err, br.Output(4096))
	require.Equal(t, 6, charts)
	require.Equal(t, charts, drawn, "every chart has a line drawn")
	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, problems)
}

func testBenchDirectTarget(t *testing.T, bin string) {
	dir := t.TempDir()
	srv := testutil.StartVigil(t, bin, dir, testutil.FreePort(t, "tcp"), testutil.FreePort(t, "udp"),
		"--record-auto", "all", "--record-grace", "0s", "--log-level", "warn")
	out := t.TempDir()
	b := startBench(t, bin, "--topology", "direct", "--streams", "3", "--duration", "10s", "--out", out,
		"--target", srv.Base+"/whip/{name}", "--server-pid", strconv.Itoa(srv.Cmd.Process.Pid), "--files", dir)
	code := b.wait(t, 5*time.Minute)
	t.Logf("bench output:\n%s", b.output())
	require.Equal(t, 0, code)
	r, err := LoadReport(filepath.Join(out, "report.json"))
	require.NoError(t, err)
	require.Len(t, r.Nodes, 1)
	require.Equal(t, srv.Cmd.Process.Pid, r.Nodes[0].PID)
	require.False(t, r.Nodes[0].Own)
	last := r.Samples[len(r.Samples)-1].Nodes[0]
	require.True(t, last.Up)
	require.Positive(t, last.RSS)
	require.Positive(t, last.CPUSeconds)
	require.Positive(t, r.Figures.CPUPerStreamMin)
	require.Equal(t, 3, r.Figures.FilesValid)
	require.Equal(t, 3, r.Figures.FilesTotal)
	// Each stream's files hold what its publisher sent: the recording starts at its first
	// keyframe (pre-rolled) and the boxes add about a percent.
	for _, s := range r.Streams {
		require.Positive(t, s.SentBytes, s.Name)
		require.InDelta(t, 1, float64(s.WrittenBytes)/float64(s.SentBytes), 0.1, s.Name)
	}
	require.InDelta(t, 1, r.Figures.WrittenPerSent, 0.1)
	require.Contains(t, b.output(), "bytes written / bytes sent")
	require.Contains(t, b.output(), "packets NACKed")
}

func testBenchRecorderKilled(t *testing.T, bin string) {
	out := t.TempDir()
	b := startBench(t, bin, "--topology", "pull", "--streams", "3", "--duration", "60s", "--out", out)
	pid, err := strconv.Atoi(b.waitLine(t, regexp.MustCompile(`^recorder node: pid (\d+),`), time.Minute)[1])
	require.NoError(t, err)
	b.waitLine(t, regexp.MustCompile(`3 of 3 streams recording`), 2*time.Minute)
	// A status line once the recordings have run a few seconds.
	b.waitLine(t, regexp.MustCompile(`recording \| streams live 3/3  recording 3`), time.Minute)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))

	code := b.wait(t, 3*time.Minute)
	text := b.output()
	t.Logf("bench output:\n%s", text)
	require.Equal(t, 1, code)
	require.Contains(t, text, fmt.Sprintf("recorder node (pid %d) died: signal: killed", pid))
	require.Contains(t, text, "FAIL")
	r, err := LoadReport(filepath.Join(out, "report.json"))
	require.NoError(t, err)
	require.Len(t, r.Streams, 3)
	for _, s := range r.Streams {
		require.Equal(t, "recovered", s.State, "%s: %s", s.Name, s.Reason)
		require.NotEmpty(t, s.Files)
		require.Equal(t, "recovered", s.Files[0].State)
		require.True(t, s.Files[0].Valid, s.Files[0].Problem)
		require.Regexp(t, s.Name+`\s+recovered \(the node died; its files were recovered\)`, text)
	}
}
