// Package buildinfo says which build of vigil is running: the release version, commit and date
// stamped by scripts/release.sh, and the Go toolchain that built it.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set by the linker (-ldflags -X) in release builds; see scripts/release.sh. A plain `go build`
// or `go run` leaves them empty and Read falls back to what the toolchain recorded. They are
// written once, before main, and only read afterwards.
var (
	version string // e.g. 0.2.0 or 0.1.0-dev+f36a666c1b2d
	commit  string // full commit hash, "-dirty" appended when the tree had changes
	date    string // RFC 3339, the commit's time (not the build's, so rebuilds are identical)
)

// Info describes one build.
type Info struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Date     string `json:"date"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// Read returns this binary's build information. Fields nothing recorded read "unknown".
func Read() Info {
	info := Info{Version: version, Commit: commit, Date: date, Go: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		fromToolchain(&info, bi)
	}
	for _, f := range []*string{&info.Version, &info.Commit, &info.Date} {
		if *f == "" {
			*f = "unknown"
		}
	}
	return info
}

// fromToolchain fills what the linker did not stamp from what `go build` recorded: the module
// version of `go install …@v1.2.3`, and the VCS revision and time of a build in a git checkout.
func fromToolchain(info *Info, bi *debug.BuildInfo) {
	if info.Version == "" {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			info.Version = strings.TrimPrefix(v, "v")
		} else {
			info.Version = "dev"
		}
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if info.Commit == "" && settings["vcs.revision"] != "" {
		info.Commit = settings["vcs.revision"]
		if settings["vcs.modified"] == "true" {
			info.Commit += "-dirty"
		}
	}
	if info.Date == "" {
		info.Date = settings["vcs.time"]
	}
}

// String is the text of `vigil version`.
func (i Info) String() string {
	return fmt.Sprintf("vigil %s\ncommit:   %s\nbuilt:    %s\ngo:       %s %s\n",
		i.Version, i.Commit, i.Date, i.Go, i.Platform)
}
