package cli

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/vigilrec/vigil/internal/config"
)

// runHealthcheck asks a running server's /healthz and succeeds only on 200. It exists for
// container images without curl (Dockerfile HEALTHCHECK) and for scripts: by default it reads
// the same configuration as serve (--config or VIGIL_CONFIG, then VIGIL_* variables) to find the
// address, so a container configured through its environment needs no arguments.
func runHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("healthcheck", stdout, stderr)
	path := fs.String("config", "", "YAML configuration file the server runs with (env VIGIL_CONFIG)")
	url := fs.String("url", "", "URL to ask instead of the configured address's /healthz")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	target := *url
	if target == "" {
		p := *path
		if p == "" {
			p = os.Getenv("VIGIL_CONFIG")
		}
		// A configuration serve would refuse still names the address it would listen on; the
		// check then fails on the connection, which is the answer.
		cfg, _ := config.Load(p, os.LookupEnv, nil)
		target = healthURL(cfg)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("health check %s: %w", target, err)
	}
	// The server's certificate names its public host, not the loopback address asked here; this
	// checks that the server answers, not who it is.
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // liveness only
	}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health check %s: %s %s", target, resp.Status, body)
	}
	fmt.Fprintf(stdout, "%s: %s\n", target, resp.Status)
	return nil
}

// healthURL is the /healthz URL of a server listening on cfg.HTTP, reached over loopback when it
// listens on every interface.
func healthURL(cfg config.Config) string {
	host, port, err := net.SplitHostPort(cfg.HTTP)
	if err != nil {
		host, port = "", "8081"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	scheme := "http"
	if cfg.TLS.Cert != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/healthz"
}
