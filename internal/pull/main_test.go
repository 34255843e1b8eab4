package pull

import (
	"log/slog"
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine a pull, a test server or a peer connection starts must be gone at the end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
