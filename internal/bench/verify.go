package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/probe"
	"github.com/vigilrec/vigil/internal/storage"
)

// File is one recording file and what verification found.
type File struct {
	Stream string `json:"stream"`
	Path   string `json:"path"`
	// State is the node's word for it (closed, recovered, deleted, …) or "part" for a file
	// left unfinished that no node repaired, "found" for a file found in --files.
	State    string   `json:"state"`
	Bytes    int64    `json:"bytes"`
	Duration float64  `json:"duration"`
	Codecs   []string `json:"codecs"`
	// VideoDuration is the video track's own duration (ffprobe; 0 when unknown or audio-only).
	VideoDuration float64 `json:"video_duration,omitempty"`
	// AVOffset is how far the audio track's start or end lies from the video's, in seconds
	// (ffprobe; 0 when unknown): a recording in sync has a few tens of milliseconds at most.
	AVOffset float64 `json:"av_offset,omitempty"`
	Valid    bool    `json:"valid"`
	// Checked says how: "ffmpeg" (ffprobe and a full decode), "ffprobe" or "vigil" (its own
	// parser, when ffmpeg is not installed).
	Checked string `json:"checked,omitempty"`
	Problem string `json:"problem,omitempty"`
	// Start and End are the segment's wall-clock times from the node's catalog (zero if unknown).
	Start float64 `json:"start,omitempty"`
	End   float64 `json:"end,omitempty"`
}

// verifier checks files: ffprobe and (full) an ffmpeg decode when installed, else vigil's parser.
type verifier struct {
	ffmpeg bool
	full   bool
	codec  string // the expected video codec (ffprobe's name)
}

func newVerifier(mode, codec string) verifier {
	return verifier{ffmpeg: probe.Available() == nil, full: mode != "probe", codec: codec}
}

// verifyAll checks files with one worker per CPU (the nodes are stopped by then).
func (v verifier) verifyAll(ctx context.Context, files []*File) {
	work := make(chan *File)
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Go(func() {
			for f := range work {
				v.verify(ctx, f)
			}
		})
	}
	for _, f := range files {
		if f.State != "deleted" {
			work <- f
		}
	}
	close(work)
	wg.Wait()
}

func (v verifier) verify(ctx context.Context, f *File) {
	st, err := os.Stat(f.Path)
	if err != nil {
		f.Problem = fmt.Sprintf("missing: %v", err)
		return
	}
	f.Bytes = st.Size()
	if v.ffmpeg {
		v.verifyFFmpeg(ctx, f)
	} else {
		v.verifyOwn(f)
	}
	if f.Problem == "" {
		f.Problem = v.judge(f)
	}
	f.Valid = f.Problem == ""
}

func (v verifier) verifyFFmpeg(ctx context.Context, f *File) {
	f.Checked = "ffprobe"
	r, err := probe.File(ctx, f.Path)
	if err != nil {
		f.Problem = err.Error()
		return
	}
	f.Duration, f.Codecs = r.Duration, r.Codecs()
	f.VideoDuration, f.AVOffset = avTimes(r, v.codec)
	if !v.full {
		return
	}
	f.Checked = "ffmpeg"
	msg, err := probe.Decode(ctx, f.Path)
	switch {
	case err != nil:
		f.Problem = err.Error()
	case msg != "":
		f.Problem = "decode errors: " + firstLines(msg, 3)
	}
}

func (v verifier) verifyOwn(f *File) {
	f.Checked = "vigil"
	in, err := storage.Inspect(f.Path)
	f.Duration, f.Codecs = in.Duration.Seconds(), in.Codecs
	switch {
	case err != nil:
		f.Problem = err.Error()
	case !in.Whole:
		f.Problem = "torn: the file does not end at a complete fragment"
	}
}

// judge checks what every valid file must have: some media, and the published video codec.
func (v verifier) judge(f *File) string {
	switch {
	case f.Duration <= 0:
		return "no media (duration 0)"
	case v.codec != "" && !slices.Contains(f.Codecs, v.codec):
		return fmt.Sprintf("codecs %v, want %s", f.Codecs, v.codec)
	}
	return ""
}

func firstLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append(lines[:n], fmt.Sprintf("… (%d lines)", len(lines)))
	}
	return strings.Join(lines, " | ")
}

// filesIn lists the media files under dir whose path names stream as a whole word (Stream-1
// and not Stream-10), for servers bench cannot ask (--files).
func filesIn(dir, stream string) []*File {
	var out []*File
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil //nolint:nilerr // an unreadable entry is skipped, not fatal
		}
		ext := strings.ToLower(filepath.Ext(strings.TrimSuffix(path, storage.PartSuffix)))
		rel, _ := filepath.Rel(dir, path)
		if (ext == ".mp4" || ext == ".webm" || ext == ".mkv") && namesStream(rel, stream) {
			state := "found"
			if strings.HasSuffix(path, storage.PartSuffix) {
				state = "part"
			}
			f := &File{Stream: stream, Path: path, State: state}
			if info, err := d.Info(); err == nil {
				f.Bytes = info.Size()
			}
			out = append(out, f)
		}
		return nil
	})
	return out
}

func namesStream(rel, stream string) bool {
	for i := 0; ; {
		j := strings.Index(rel[i:], stream)
		if j < 0 {
			return false
		}
		end := i + j + len(stream)
		if end == len(rel) || rel[end] < '0' || rel[end] > '9' {
			return true
		}
		i = end
	}
}

// videoCodecName is ffprobe's (and storage.Inspect's) name of a codec.
func videoCodecName(c media.Codec) string {
	if c == media.H265 {
		return "hevc"
	}
	return string(c)
}

// avTimes returns the video track's duration and how far the audio track's start or end is from
// the video's (both 0 without a video track, the offset 0 without an audio track).
func avTimes(r probe.Result, video string) (videoDuration, offset float64) {
	v := r.Stream(video)
	if v.Codec == "" {
		return 0, 0
	}
	a := r.Stream("opus")
	if a.Codec == "" {
		return v.Duration, 0
	}
	start := math.Abs(a.StartTime - v.StartTime)
	end := math.Abs((a.StartTime + a.Duration) - (v.StartTime + v.Duration))
	return v.Duration, math.Max(start, end)
}
