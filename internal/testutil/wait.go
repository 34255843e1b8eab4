package testutil

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// TimeScaleEnv stretches every test deadline on a slow machine: VIGIL_TEST_TIME_SCALE=3 gives
// each wait three times as long. What the waits check never changes, only how long they may take.
const TimeScaleEnv = "VIGIL_TEST_TIME_SCALE"

// Scaled returns d stretched for this machine: by VIGIL_TEST_TIME_SCALE when set, and twice as
// long under the race detector, which slows everything it watches.
func Scaled(d time.Duration) time.Duration {
	scale := 1.0
	if raceEnabled {
		scale = 2
	}
	if v, err := strconv.ParseFloat(os.Getenv(TimeScaleEnv), 64); err == nil && v > 0 {
		scale *= v
	}
	return time.Duration(float64(d) * scale)
}

// WaitFor polls cond until it holds, and fails the test if it does not within timeout (scaled).
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	timeout = Scaled(timeout)
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
