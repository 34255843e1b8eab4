package bench

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestStreamResult(t *testing.T) {
	newRunner := func() *runner {
		smp := newSampler(nil, 0, nil, time.Now())
		smp.streams["seen-till-50"] = &streamTrack{seen: true, lastSeen: 50, packets: 990, lost: 10}
		smp.streams["seen-till-end"] = &streamTrack{seen: true, lastSeen: 61, packets: 1000, degraded: 3}
		smp.scraped = 61
		return &runner{smp: smp, nodes: []*node{{role: "recorder"}}, rep: &Report{WindowStart: 2, WindowEnd: 60}}
	}
	ok := func(start, dur float64) *File {
		return &File{Start: start, End: start + dur, Duration: dur, Valid: true, State: "closed"}
	}
	for _, tc := range []struct {
		name    string
		stream  streamRun
		files   []*File
		died    bool
		scraped float64
		state   string
		reason  string
		gaps    int
	}{
		{"complete", streamRun{name: "seen-till-end"}, []*File{ok(1, 59)}, false, 61, "ok", "", 0},
		{"rotated with a gap", streamRun{name: "seen-till-end"}, []*File{ok(1, 20), ok(22, 38)}, false, 61, "ok", "", 1},
		{"never started", streamRun{name: "x", err: errors.New("pull: 409")}, nil, false, 61, "lost", "pull: 409", 0},
		{"left", streamRun{name: "seen-till-50"}, []*File{ok(1, 59)}, false, 61, "lost", "left the recorder at 50 s", 0},
		{"unanswered scrapes are not a departure", streamRun{name: "seen-till-50"}, []*File{ok(1, 59)}, false, 51, "ok", "", 0},
		{"media missing", streamRun{name: "seen-till-end"}, []*File{ok(1, 40)}, false, 61, "lost", "media missing: 40.0 s recorded of 59.0 s", 0},
		{"deleted by retention counts", streamRun{name: "seen-till-end"}, []*File{{Start: 1, End: 30, Duration: 29, State: "deleted"}, ok(30, 30)}, false, 61, "ok", "", 0},
		{"invalid file", streamRun{name: "seen-till-end"}, []*File{{Start: 1, Duration: 59, State: "closed", Problem: "decode errors"}}, false, 61, "lost", "no valid file", 0},
		{"no file", streamRun{name: "seen-till-end"}, nil, false, 61, "lost", "no file", 0},
		{"node died, file recovered", streamRun{name: "seen-till-end"}, []*File{{Start: 1, Duration: 20, Valid: true, State: "recovered"}}, true, 61, "recovered", "the node died; its files were recovered", 0},
		{"node died, nothing left", streamRun{name: "seen-till-end"}, nil, true, 61, "lost", "the node died and no file of it survived", 0},
		{"dropped", streamRun{name: "seen-till-end", dropped: "its WHIP session ended before the stop"}, []*File{ok(1, 59)}, false, 61, "lost", "its WHIP session ended before the stop", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRunner()
			r.smp.scraped = tc.scraped
			res := r.result(&tc.stream, tc.files, tc.died)
			require.Equal(t, tc.state, res.State)
			require.Equal(t, tc.reason, res.Reason)
			require.Equal(t, tc.gaps, res.Gaps)
		})
	}
	r := newRunner()
	res := r.result(&streamRun{name: "seen-till-50"}, nil, false)
	require.InDelta(t, 0.01, res.Loss, 1e-9)
}
