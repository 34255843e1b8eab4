// Package cli is the vigil command line: subcommands, flags, signals and the root logger. It is
// the only package besides cmd/ that chooses exit codes.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"

	"github.com/vigilrec/vigil/internal/config"
)

// Version is vigil's release.
const Version = "0.1.0"

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// Main runs the command line args (without the program name) and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd, rest := "serve", args
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, rest = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = runServe(ctx, rest, stdout, stderr)
	case "publish":
		err = runPublish(ctx, rest, stdout, stderr)
	case "bench":
		err = runBench(ctx, rest, stdout, stderr)
	case "config":
		err = runConfig(rest, stdout, stderr)
	case "token":
		err = runToken(rest, stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "vigil %s (%s, %s/%s)\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	case "help", "-h", "--help":
		usage(stdout)
	default:
		fmt.Fprintf(stderr, "vigil: unknown command %q\n\n", cmd)
		usage(stderr)
		return exitUsage
	}
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "vigil %s: %v\n", cmd, err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "vigil %s: %v\n", cmd, err)
		return exitError
	}
}

var errUsage = errors.New("usage")

func usage(w io.Writer) {
	fmt.Fprint(w, `vigil — WebRTC recording server

Usage:
  vigil [serve] [flags]          run the server (the default command)
  vigil publish [flags]          publish looped test media (or a file) over WHIP
  vigil bench [flags]            load test: N streams recorded, sampled, verified, reported
  vigil bench compare A B        two bench reports (report.json) side by side
  vigil config check [flags]     validate the configuration and exit
  vigil config print [flags]     print the effective configuration as YAML (secrets redacted)
  vigil token [flags]            make a bearer token and its auth.tokens entry
  vigil version                  print the version

Run "vigil serve -h", "vigil publish -h" or "vigil bench -h" for flags. Configuration: docs/configuration.md.
`)
}

// configFlags registers --config and one flag per setting on fs and returns a loader for after
// fs.Parse.
func configFlags(fs *flag.FlagSet) func() (config.Config, error) {
	path := fs.String("config", "", "YAML configuration file (env VIGIL_CONFIG); built-in defaults when empty")
	var fv config.FlagValues
	fv.Register(fs)
	return func() (config.Config, error) {
		p := *path
		if p == "" {
			p = os.Getenv("VIGIL_CONFIG")
		}
		return config.Load(p, os.LookupEnv, &fv)
	}
}

func newLogger(cfg config.LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func runConfig(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "check" && args[0] != "print") {
		return fmt.Errorf("%w: vigil config check|print [flags]", errUsage)
	}
	fs := flag.NewFlagSet("config "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	load := configFlags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	if args[0] == "check" {
		fmt.Fprintln(stdout, "configuration is valid")
		return nil
	}
	out, err := config.Marshal(cfg.Redacted())
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}
