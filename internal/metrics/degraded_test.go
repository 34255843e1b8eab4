package metrics

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/recorder"
)

// Each way a stream can be degraded, laid down as real media history in a hub and judged at the
// real time now; and the healthy cases that must stay clean.
func TestDetector(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name   string
		queue  int // hub queue (0: the default), small when a subscriber must overflow
		feed   func(f *feeder)
		stall  bool // a subscriber that never reads
		health *recorder.Health
		want   []string
	}{
		{name: "healthy", feed: func(f *feeder) { f.live(20 * time.Second) }},
		{name: "young and healthy", feed: func(f *feeder) { f.live(2 * time.Second) }},
		{name: "loss over the threshold", want: []string{ReasonLoss},
			feed: func(f *feeder) { f.dropEvery = 10; f.live(20 * time.Second) }},
		{name: "loss under the threshold", feed: func(f *feeder) { f.dropEvery = 100; f.live(20 * time.Second) }},
		{name: "loss that ended", feed: func(f *feeder) {
			f.dropEvery = 10
			f.run(now.Add(-20*time.Second), 10*time.Second)
			f.dropEvery = 0
			f.run(now.Add(-10*time.Second), 10*time.Second)
		}},
		{name: "frame rate collapse", want: []string{ReasonFPSDrop, ReasonBitrateDrop}, feed: func(f *feeder) {
			f.run(now.Add(-20*time.Second), 16*time.Second)
			f.videoFPS = 4
			f.run(now.Add(-4*time.Second), 4*time.Second)
		}},
		{name: "bitrate collapse", want: []string{ReasonBitrateDrop}, feed: func(f *feeder) {
			f.run(now.Add(-20*time.Second), 16*time.Second)
			f.payload = 100
			f.run(now.Add(-4*time.Second), 4*time.Second)
		}},
		{name: "publisher went silent", want: []string{ReasonFPSDrop, ReasonBitrateDrop},
			feed: func(f *feeder) { f.run(now.Add(-20*time.Second), 15*time.Second) }},
		{name: "keyframes missing after loss", want: []string{ReasonLoss, ReasonKeyframesMissing}, feed: func(f *feeder) {
			f.keyEvery = 1 << 30 // only the first frame
			f.run(now.Add(-20*time.Second), 14*time.Second)
			f.dropEvery = 10
			f.run(now.Add(-6*time.Second), 6*time.Second)
		}},
		{name: "keyframes keep coming after loss", want: []string{ReasonLoss},
			feed: func(f *feeder) { f.keyEvery = 30; f.dropEvery = 10; f.live(20 * time.Second) }},
		{name: "stalled subscriber", queue: 64, stall: true, want: []string{ReasonSubscriberDrops},
			feed: func(f *feeder) { f.live(20 * time.Second) }},
		{name: "recorder behind", want: []string{ReasonRecorderDrops, ReasonSlowWrite},
			health: &recorder.Health{Dropped: 5, LastDrop: now.Add(-time.Second), LastSlowWrite: now},
			feed:   func(f *feeder) { f.live(20 * time.Second) }},
		{name: "recorder was behind long ago",
			health: &recorder.Health{Dropped: 5, LastDrop: now.Add(-time.Minute), LastSlowWrite: now.Add(-time.Minute)},
			feed:   func(f *feeder) { f.live(20 * time.Second) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := hub.New(hub.Config{QueuePackets: tc.queue})
			f := newFeeder(t, h, "cam")
			if tc.stall {
				sub, err := f.st.Subscribe(hub.SubscribeOptions{})
				require.NoError(t, err)
				t.Cleanup(sub.Close)
			}
			tc.feed(f)
			recs := &fakeRecorders{health: map[string]recorder.Health{}}
			if tc.health != nil {
				recs.health["cam"] = *tc.health
			}
			d := NewDetector(DegradedConfig{}, recs)
			d.now = func() time.Time { return now }
			require.Equal(t, tc.want, d.Reasons(f.st.Snapshot()))
		})
	}
}

func TestDetectorIgnoresPendingStreams(t *testing.T) {
	h := hub.New(hub.Config{})
	st, err := h.Create("cam", quietSource{})
	require.NoError(t, err)
	defer st.Close()
	require.Nil(t, NewDetector(DegradedConfig{}, nil).Reasons(st.Snapshot()))
}

func TestDegradedDefaults(t *testing.T) {
	c := DegradedConfig{}.withDefaults()
	require.Equal(t, DegradedConfig{Window: 3 * time.Second, LossRatio: 0.02, MinExpected: 50, FPSRatio: 0.5,
		BitrateRatio: 0.3, MinBaseline: 5, MinFPS: 5}, c)
	c = DegradedConfig{Window: time.Second, LossRatio: 0.1}.withDefaults()
	require.Equal(t, time.Second, c.Window)
	require.Equal(t, 0.1, c.LossRatio)
}
