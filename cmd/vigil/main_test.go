package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/testutil"
)

// The README's run command: the server starts with no configuration at all, on the documented
// default ports, records into ./recordings, answers /healthz, and stops cleanly on SIGTERM.
func TestRunsWithEmbeddedDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := testutil.BuildVigil(t)

	work := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Dir = work
	cmd.Env = testutil.WithoutVigilVars(os.Environ())
	logFile, err := os.Create(filepath.Join(work, "vigil.log"))
	require.NoError(t, err)
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	}()

	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get("http://127.0.0.1:8081/healthz")
		if err == nil {
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			break
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(work, "vigil.log"))
			t.Fatalf("vigil exited early (%v):\n%s", err, log)
		default:
		}
		require.True(t, time.Now().Before(deadline), "no answer on :8081/healthz within 30 s")
		time.Sleep(100 * time.Millisecond)
	}
	st, err := os.Stat(filepath.Join(work, "recordings"))
	require.NoError(t, err, "the default recordings directory was not created")
	require.True(t, st.IsDir())

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		log, _ := os.ReadFile(filepath.Join(work, "vigil.log"))
		require.NoError(t, err, "exit after SIGTERM:\n%s", log)
		require.Contains(t, string(log), "udp=0.0.0.0:8189")
	case <-time.After(20 * time.Second):
		t.Fatal("vigil did not stop within 20 s of SIGTERM")
	}
}
