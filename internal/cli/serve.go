package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/vigilrec/vigil/internal/app"
)

// runServe runs the server until SIGINT or SIGTERM; a second signal exits at once.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stdout, stderr)
	load := configFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	if os.Getenv("GOGC") == "" {
		// Process-wide, so set here where the process is the server rather than in app.New.
		debug.SetGCPercent(cfg.GCPercent)
	}
	a, err := app.New(cfg, log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
		case <-done:
			return
		}
		again := make(chan os.Signal, 1)
		signal.Notify(again, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(again)
		select {
		case <-again:
			log.Error("second signal: exiting without finishing the shutdown")
			os.Exit(exitError) //nolint:forbidigo // the forced exit the operator asked for
		case <-done:
		}
	}()
	return a.Run(ctx)
}
