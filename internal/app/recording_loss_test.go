package app

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/config"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/publish"
)

// Publishers on impaired networks, all at once on one server for 30 s, each recorded from its
// start: 5 % random loss (H.264 and VP8), 2 % loss in bursts of 5–20 packets, 1 % reordering by
// up to 30 ms, 50 ms jitter, 3 % duplicates. Retransmissions pass through the same impairment.
// Every stream gives exactly one file, which decodes without a single error; under random loss
// its duration is the publishing time (within 0.5 s) and audio starts with video (within 40 ms).
func TestRecordingOverImpairedNetworks(t *testing.T) {
	if testing.Short() {
		t.Skip("publishes for 30 s")
	}
	requireFFmpeg(t)
	s := startServer(t, func(c *config.Config) { c.Record.Auto = "all" })
	cases := []struct {
		name   string
		codec  media.Codec
		impair publish.Impairment
		strict bool // duration and A/V checks
	}{
		{"loss-h264", media.H264, publish.Impairment{LossPct: 5, Seed: 1}, true},
		{"loss-vp8", media.VP8, publish.Impairment{LossPct: 5, Seed: 2}, true},
		{"burst-h264", media.H264, publish.Impairment{LossPct: 2, BurstMin: 5, BurstMax: 20, Seed: 3}, false},
		{"reorder-vp8", media.VP8, publish.Impairment{ReorderPct: 1, ReorderBy: 30 * time.Millisecond, Seed: 4}, false},
		{"jitter-h264", media.H264, publish.Impairment{Jitter: 50 * time.Millisecond, Seed: 5}, false},
		{"duplicates-vp8", media.VP8, publish.Impairment{DuplicatePct: 3, Seed: 6}, false},
	}
	pubs := make([]*publish.Session, len(cases))
	var wg sync.WaitGroup
	for i, tc := range cases {
		wg.Go(func() {
			pubs[i] = s.publishWith(tc.name, tc.codec, "240p", func(o *publish.Options) { o.Impair = &tc.impair })
		})
	}
	wg.Wait()
	s.waitFor("30 s recorded of every stream", 90*time.Second, func() bool {
		for _, tc := range cases {
			_, body, _ := s.request(http.MethodGet, "/api/v1/streams/"+tc.name+"/recording", "", "")
			if recordedSeconds(t, body) < 30 {
				return false
			}
		}
		return true
	})
	closedAt := make([]time.Time, len(cases))
	stats := make([]publish.Stats, len(cases))
	for i, p := range pubs {
		wg.Go(func() {
			stats[i] = p.Stats()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			closedAt[i] = time.Now()
			require.NoError(t, p.Close(ctx))
		})
	}
	wg.Wait()
	s.waitFor("every file closed", 30*time.Second, func() bool {
		for _, tc := range cases {
			for _, seg := range s.segments("stream=" + tc.name) {
				if seg.State == "recording" {
					return false
				}
			}
		}
		return true
	})

	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, body, _ := s.request(http.MethodGet, "/api/v1/streams/"+tc.name+"/recording", "", "")
			var rec struct{ Loss map[string]float64 }
			require.NoError(t, json.Unmarshal([]byte(body), &rec), body)
			t.Logf("sent: %+v; recording: %v", stats[i].Impaired, rec.Loss)
			require.Zero(t, rec.Loss["discontinuities"])

			segs := s.segments("stream=" + tc.name)
			require.Len(t, segs, 1, "one file per stream")
			path := filepath.Join(s.app.store.Dir(), segs[0].Path)
			require.Empty(t, decodeErrors(t, path))
			if !tc.strict {
				return
			}
			p := probeFile(t, path)
			published := closedAt[i].Sub(stats[i].FirstVideoAt).Seconds()
			t.Logf("file %.3f s, published %.3f s", p.Duration, published)
			require.InDelta(t, published, p.Duration, 0.5)
			video := p.Stream(string(tc.codec))
			offset := p.Stream("opus").StartTime - video.StartTime
			require.LessOrEqual(t, math.Abs(offset), 0.040, "audio starts %.3f s after video", offset)
		})
	}
}
