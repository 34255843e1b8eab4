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
	"strings"

	"github.com/vigilrec/vigil/internal/app"
	"github.com/vigilrec/vigil/internal/buildinfo"
	"github.com/vigilrec/vigil/internal/config"
)

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
	if len(args) > 0 && oneOf(args[0], "-h", "-help", "--help") {
		cmd = "help"
	}
	errOut := &cmdStderr{Writer: stderr}
	var err error
	switch cmd {
	case "serve":
		err = runServe(ctx, rest, stdout, errOut)
	case "publish":
		err = runPublish(ctx, rest, stdout, errOut)
	case "bench":
		err = runBench(ctx, rest, stdout, errOut)
	case "config":
		err = runConfig(rest, stdout, errOut)
	case "token":
		err = runToken(rest, stdout, errOut)
	case "healthcheck":
		err = runHealthcheck(ctx, rest, stdout, errOut)
	case "version":
		fmt.Fprint(stdout, buildinfo.Read())
	case "help":
		usage(stdout)
	default:
		fmt.Fprintf(stderr, "vigil: unknown command %q (see vigil -h)\n", cmd)
		return exitUsage
	}
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errOut.refused:
		return exitUsage // the flag set has said why, in one line
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "vigil %s: %v\n", cmd, err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "vigil %s: %v\n", cmd, err)
		return exitError
	}
}

func oneOf(s string, options ...string) bool {
	for _, o := range options {
		if s == o {
			return true
		}
	}
	return false
}

// cmdStderr is stderr as a subcommand sees it. Its flag set notes there that it refused the
// command line (and said why, in one line), so Main exits with the usage code without saying it
// twice: the subcommands return the flag package's errors as they are.
type cmdStderr struct {
	io.Writer
	refused bool
}

// newFlagSet is the flag set of `vigil <name>`. -h prints the flags, one line each, to stdout;
// an unknown flag or a bad value prints one line to stderr, and Main exits with code 2.
func newFlagSet(name string, stdout, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var msg strings.Builder
	fs.SetOutput(&msg) // the flag package writes its complaint here, then calls Usage
	fs.Usage = func() {
		if msg.Len() == 0 {
			printHelp(stdout, fs)
			return
		}
		problem := strings.TrimSpace(msg.String())
		if unknown, ok := strings.CutPrefix(problem, "flag provided but not defined: -"); ok {
			var names []string
			fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
			if best := config.Closest(unknown, names); best != "" {
				problem += " (did you mean -" + best + "?)"
			}
		}
		fmt.Fprintf(stderr, "vigil %s: %s (see vigil %s -h)\n", name, problem, name)
		msg.Reset()
		if s, ok := stderr.(*cmdStderr); ok {
			s.refused = true
		}
	}
	return fs
}

// synopsis starts the help of `vigil <name>`: its usage line and what it does.
func synopsis(name string) string {
	switch name {
	case "serve":
		return "vigil [serve] [flags]\n\nRun the server until SIGINT or SIGTERM. Each setting is read from the --config file, then\n" +
			"its VIGIL_* variable, then its flag, each overriding the one before (docs/configuration.md).\n" +
			"Durations are written 500ms, 10s, 2m; sizes 4096, 8MiB, 10M; lists a,b,c."
	case "config check":
		return "vigil config check [flags]\n\nCheck the configuration as vigil serve does before it starts, report every problem, and\n" +
			"exit 1 if there is any. It takes the flags of vigil serve."
	case "config print":
		return "vigil config print [flags]\n\nPrint the effective configuration as YAML (secrets redacted). It takes the flags of\n" +
			"vigil serve."
	case "publish":
		return "vigil publish [flags]\n\nPublish looped test media (or a file) over WHIP until interrupted."
	case "bench":
		return "vigil bench [flags]\n       vigil bench compare A.json B.json\n\nLoad test: N streams recorded, sampled, verified, reported (docs/bench.md)."
	case "healthcheck":
		return "vigil healthcheck [flags]\n\nAsk a running server's /healthz and exit 0 if it answers 200, 1 otherwise. The address\n" +
			"comes from the server's configuration (--config or VIGIL_CONFIG, then VIGIL_HTTP and\n" +
			"VIGIL_TLS_CERT) unless --url names one."
	case "token":
		return "vigil token [flags]\n\nMake a bearer token and the auth.tokens entry that grants it."
	}
	return "vigil " + name + " [flags]"
}

// printHelp prints the synopsis and the flags of fs, one line each: name, what it takes, help.
func printHelp(w io.Writer, fs *flag.FlagSet) {
	type row struct{ left, help string }
	var rows []row
	width := 0
	fs.VisitAll(func(f *flag.Flag) {
		typ, help := flag.UnquoteUsage(f)
		if t, ok := f.Value.(interface{ TypeName() string }); ok {
			typ = t.TypeName()
		}
		if !oneOf(f.DefValue, "", "0", "0s", "false", "[]") {
			help += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		left := "  -" + f.Name
		if typ != "" {
			left += " " + typ
		}
		width = max(width, len(left))
		rows = append(rows, row{left, help})
	})
	fmt.Fprintf(w, "Usage: %s\n\nFlags:\n", synopsis(fs.Name()))
	for _, r := range rows {
		fmt.Fprintf(w, "%-*s  %s\n", width, r.left, r.help)
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
  vigil config check [flags]     check the configuration as serve does, report every problem
  vigil config print [flags]     print the effective configuration as YAML (secrets redacted)
  vigil token [flags]            make a bearer token and its auth.tokens entry
  vigil healthcheck [flags]      ask a running server's /healthz (exit 0 when it answers 200)
  vigil version                  print the version, commit, build date and Go version
  vigil help                     this text (also vigil -h)

Run "vigil <command> -h" for a command's flags, e.g. "vigil serve -h". Configuration:
docs/configuration.md.
`)
}

// configFlags registers --config and one flag per setting on fs and returns a loader for after
// fs.Parse. serve and config check both load through it, so config check reports exactly what
// would stop serve before it binds anything: every problem at once.
func configFlags(fs *flag.FlagSet) func() (config.Config, error) {
	path := fs.String("config", "", "YAML configuration file (env VIGIL_CONFIG); built-in defaults when empty")
	var fv config.FlagValues
	fv.Register(fs)
	return func() (config.Config, error) {
		p := *path
		if p == "" {
			p = os.Getenv("VIGIL_CONFIG")
		}
		cfg, err := config.Load(p, os.LookupEnv, &fv)
		return cfg, config.Collect(err, app.Check(cfg))
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
	if len(args) > 0 && oneOf(args[0], "-h", "-help", "--help", "help") {
		fmt.Fprintln(stdout, "Usage: vigil config check|print [flags]\n\nRun \"vigil config check -h\" for the flags.")
		return nil
	}
	if len(args) == 0 || (args[0] != "check" && args[0] != "print") {
		return fmt.Errorf("%w: vigil config check|print [flags]", errUsage)
	}
	fs := newFlagSet("config "+args[0], stdout, stderr)
	load := configFlags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
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
