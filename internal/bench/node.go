package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// node is one server bench measures: a vigil child process it started, or a running server
// given by URL (then pid and dir are known only if the user gave them).
type node struct {
	role string // origin, recorder, server
	api  nodeAPI
	pid  int
	// dir is the node's recordings directory when bench can read it ("" otherwise).
	dir string
	// vigil is true when the node answers vigil's /metrics and APIs.
	vigil bool

	// Set for child processes only.
	args    []string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the child has exited
	exitErr error
}

// Info describes a node in the report.
type Info struct {
	Role string `json:"role"`
	URL  string `json:"url,omitempty"`
	PID  int    `json:"pid,omitempty"`
	Dir  string `json:"dir,omitempty"`
	// Own is true for a node bench started (and stopped) itself.
	Own bool   `json:"own"`
	Log string `json:"log,omitempty"`
}

func (n *node) info() Info {
	return Info{Role: n.role, URL: n.api.base, PID: n.pid, Dir: n.dir, Own: n.cmd != nil, Log: n.logPath}
}

// freePort asks the kernel for a free loopback port of network ("tcp" or "udp").
func freePort(network string) (int, error) {
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find a free udp port: %w", err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free tcp port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startNode runs `exe serve` on free loopback ports with dir as its recordings directory and
// waits until it is ready. extra are more serve flags.
func startNode(ctx context.Context, exe, role, dir, logDir string, client *http.Client, extra ...string) (*node, error) {
	httpPort, err := freePort("tcp")
	if err != nil {
		return nil, err
	}
	udpPort, err := freePort("udp")
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--http", "127.0.0.1:" + strconv.Itoa(httpPort),
		"--udp", "127.0.0.1:" + strconv.Itoa(udpPort), "--dir", dir, "--log-level", "warn"}, extra...)
	n := &node{role: role, api: nodeAPI{base: "http://127.0.0.1:" + strconv.Itoa(httpPort), http: client},
		dir: dir, vigil: true, args: args, logPath: filepath.Join(logDir, role+".log")}
	if err := n.spawn(exe); err != nil {
		return nil, err
	}
	if err := n.waitReady(ctx, 30*time.Second); err != nil {
		n.kill()
		return nil, err
	}
	return n, nil
}

// spawn starts the child; its output goes to n.logPath (appended, so a restart keeps the first
// run's log). The child has its own process group, so a Ctrl-C in the terminal reaches bench
// only, which then stops the recordings before the nodes; and it gets SIGTERM if bench dies.
func (n *node) spawn(exe string) error {
	logFile, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("%s log: %w", n.role, err)
	}
	cmd := exec.Command(exe, n.args...) //nolint:noctx // the node outlives ctx: bench stops it gracefully
	cmd.Env = withoutVigilVars(os.Environ())
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s node: %w", n.role, err)
	}
	n.cmd, n.pid, n.exited, n.exitErr = cmd, cmd.Process.Pid, make(chan struct{}), nil
	go func() { // ends when the child does; stop and kill wait for it
		err := cmd.Wait()
		logFile.Close()
		n.exitErr = err
		close(n.exited)
	}()
	return nil
}

func (n *node) waitReady(ctx context.Context, timeout time.Duration) error {
	return poll(ctx, timeout, 100*time.Millisecond, func() (bool, error) {
		if n.exited != nil {
			select {
			case <-n.exited:
				return false, fmt.Errorf("%s node exited at start (%v); see %s", n.role, n.exitErr, n.logPath)
			default:
			}
		}
		return n.api.ready(ctx), nil
	}, n.role+" node ready")
}

// down returns a channel closed when a child node has exited (nil for other nodes: never).
func (n *node) down() <-chan struct{} { return n.exited }

// stop ends a child node with SIGTERM (it finishes its recordings) and kills it after grace.
func (n *node) stop(grace time.Duration) error {
	if n.cmd == nil {
		return nil
	}
	select {
	case <-n.exited:
		return nil
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
		return nil
	case <-time.After(grace):
		n.kill()
		return fmt.Errorf("%w: %s node did not stop within %s of SIGTERM", ErrFailed, n.role, grace)
	}
}

func (n *node) kill() {
	if n.cmd != nil {
		_ = n.cmd.Process.Kill()
		<-n.exited
	}
}

// restart starts a child node again with the same flags (ports, directory) and waits for it.
func (n *node) restart(ctx context.Context, exe string) error {
	if err := n.spawn(exe); err != nil {
		return err
	}
	return n.waitReady(ctx, 60*time.Second)
}

// poll calls cond every interval until it is true or fails, ctx ends or timeout passes.
func poll(ctx context.Context, timeout, interval time.Duration, cond func() (bool, error), what string) error {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: waited %s for %s", ErrTimeout, timeout, what)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
}

// ErrTimeout means something bench waited for did not happen in time.
var ErrTimeout = errors.New("timed out")

func withoutVigilVars(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if len(kv) < 6 || kv[:6] != "VIGIL_" {
			out = append(out, kv)
		}
	}
	return out
}
