package testutil

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// BuildVigil builds the vigil binary into a temporary directory and returns its path.
func BuildVigil(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vigil")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/vigilrec/vigil/cmd/vigil").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// FreePort returns a loopback port of network ("tcp" or "udp") that was free a moment ago.
func FreePort(t testing.TB, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Vigil is a vigil server process started by a test.
type Vigil struct {
	Cmd  *exec.Cmd
	Base string // http://127.0.0.1:PORT
	Log  string // the path of its combined output
	// Exited is closed when the process has exited; Err is its exit status then.
	Exited chan struct{}
	Err    error
}

// StartVigil runs bin (a vigil binary) on the given loopback ports with dir as its recordings
// directory and extra flags, without the VIGIL_* variables of the test's environment, and waits
// until it is ready. The process is killed when the test ends.
func StartVigil(t testing.TB, bin, dir string, httpPort, udpPort int, extra ...string) *Vigil {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "vigil.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--http", fmt.Sprintf("127.0.0.1:%d", httpPort), "--udp", fmt.Sprintf("127.0.0.1:%d", udpPort),
		"--dir", dir)
	cmd.Args = append(cmd.Args, extra...)
	cmd.Env = WithoutVigilVars(os.Environ())
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	v := &Vigil{Cmd: cmd, Base: fmt.Sprintf("http://127.0.0.1:%d", httpPort), Log: logPath, Exited: make(chan struct{})}
	go func() {
		v.Err = cmd.Wait()
		logFile.Close()
		close(v.Exited)
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-v.Exited })
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(v.Base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return v
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("vigil not ready within 30 s:\n%s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WithoutVigilVars returns env without its VIGIL_* variables.
func WithoutVigilVars(env []string) []string {
	var out []string
	for _, kv := range env {
		if len(kv) < 6 || kv[:6] != "VIGIL_" {
			out = append(out, kv)
		}
	}
	return out
}
