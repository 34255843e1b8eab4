package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// FindTool finds a program a test runs: $env (when env is not empty), then PATH, then the cache
// bash .ci/run installs Go programs into (~/.cache/vigil-bin). Empty when it is nowhere.
func FindTool(env, name string) string {
	if env != "" {
		if p := os.Getenv(env); p != "" {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "vigil-bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// NeedTool is FindTool for a test that cannot run without the program (see Missing).
func NeedTool(t testing.TB, env, name string) string {
	t.Helper()
	p := FindTool(env, name)
	if p == "" {
		Missing(t, name+" is not installed (bash .ci/run installs it)")
	}
	return p
}

// Missing ends a test that lacks something it needs: skipped on a developer's machine, failed
// when VIGIL_REQUIRE_TOOLS is set (bash .ci/run installs everything and sets it, so a skip there
// would hide a broken install).
func Missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("VIGIL_REQUIRE_TOOLS") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}
