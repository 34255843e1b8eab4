package metrics

import (
	"time"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/recorder"
)

// Reasons a stream is degraded. The first three say the server does not keep up with the stream;
// the others that the stream itself is sick. See docs/metrics.md.
const (
	// ReasonSubscriberDrops: a subscriber's queue (a viewer's or the recorder's) dropped packets
	// in the window.
	ReasonSubscriberDrops = "subscriber_drops"
	// ReasonRecorderDrops: the recorder's own queue dropped packets in the window (it shows as
	// subscriber_drops too: the recorder is one of the subscribers).
	ReasonRecorderDrops = "recorder_drops"
	// ReasonSlowWrite: a segment write in the window took longer than the media it carried.
	ReasonSlowWrite = "write_slow"
	// ReasonLoss: packets still missing after retransmission exceed the loss threshold.
	ReasonLoss = "loss"
	// ReasonFPSDrop: the frame rate fell under a fraction of the stream's own recent median.
	ReasonFPSDrop = "fps_drop"
	// ReasonBitrateDrop: the bitrate fell under a fraction of the stream's own recent median.
	ReasonBitrateDrop = "bitrate_drop"
	// ReasonKeyframesMissing: video was lost for good and no keyframe has come to repair the
	// picture for longer than the window.
	ReasonKeyframesMissing = "keyframes_missing"
)

// AllReasons lists every reason in the order they are reported.
func AllReasons() []string {
	return []string{ReasonSubscriberDrops, ReasonRecorderDrops, ReasonSlowWrite, ReasonLoss, ReasonFPSDrop,
		ReasonBitrateDrop, ReasonKeyframesMissing}
}

// DegradedConfig are the thresholds of the judgement. Zero values take the defaults.
type DegradedConfig struct {
	// Window is how far back a drop, a slow write or a loss counts. It must equal the hub's
	// HealthWindow, over which the track figures are computed. Default 3 s.
	Window time.Duration
	// LossRatio is the share of packets lost for good over the window above which a stream is
	// degraded. Default 0.02 (2%).
	LossRatio float64
	// MinExpected is how many packets the window must hold before loss is judged. Default 50.
	MinExpected uint64
	// FPSRatio and BitrateRatio: the frame rate (bitrate) over the window under this share of
	// the track's median of the seconds before is a collapse. Defaults 0.5 and 0.3.
	FPSRatio, BitrateRatio float64
	// MinBaseline is how many seconds of history the median needs before collapses are judged.
	// Default 5.
	MinBaseline int
	// MinFPS is the lowest median frame rate judged (slide shows are left alone). Default 5.
	MinFPS float64
}

func (c DegradedConfig) withDefaults() DegradedConfig {
	if c.Window <= 0 {
		c.Window = 3 * time.Second
	}
	if c.LossRatio <= 0 {
		c.LossRatio = 0.02
	}
	if c.MinExpected == 0 {
		c.MinExpected = 50
	}
	if c.FPSRatio <= 0 {
		c.FPSRatio = 0.5
	}
	if c.BitrateRatio <= 0 {
		c.BitrateRatio = 0.3
	}
	if c.MinBaseline <= 0 {
		c.MinBaseline = 5
	}
	if c.MinFPS <= 0 {
		c.MinFPS = 5
	}
	return c
}

// Detector judges whether streams are degraded, from hub snapshots (whose track figures are
// windowed lazily, so no goroutine or timer runs per stream) and the recorder's health. It is
// safe for concurrent use.
type Detector struct {
	cfg DegradedConfig
	rec RecorderHealth // may be nil
	now func() time.Time
}

// NewDetector returns a detector; rec may be nil (no recorder reasons then).
func NewDetector(cfg DegradedConfig, rec RecorderHealth) *Detector {
	return &Detector{cfg: cfg.withDefaults(), rec: rec, now: time.Now}
}

// Reasons returns why the stream of snap is degraded, in AllReasons order; nil when it is not.
func (d *Detector) Reasons(snap hub.Snapshot) []string {
	var h recorder.Health
	ok := false
	if d.rec != nil {
		h, ok = d.rec.StreamHealth(snap.Name)
	}
	return d.reasons(snap, h, ok, d.now())
}

func (d *Detector) reasons(snap hub.Snapshot, h recorder.Health, recorded bool, now time.Time) []string {
	if !snap.Publishing() {
		return nil
	}
	within := func(t time.Time) bool { return !t.IsZero() && now.Sub(t) <= d.cfg.Window }
	var out []string
	add := func(ok bool, reason string) {
		if ok {
			out = append(out, reason)
		}
	}
	add(within(snap.LastDrop), ReasonSubscriberDrops)
	add(recorded && within(h.LastDrop), ReasonRecorderDrops)
	add(recorded && within(h.LastSlowWrite), ReasonSlowWrite)
	add(d.lossy(snap.Video) || d.lossy(snap.Audio), ReasonLoss)
	if v := snap.Video; v != nil {
		r := v.Recent
		judged := r.BaselineSeconds >= d.cfg.MinBaseline
		add(judged && r.MedianFPS >= d.cfg.MinFPS && r.FPS < d.cfg.FPSRatio*r.MedianFPS, ReasonFPSDrop)
		add(judged && r.MedianBitrate > 0 && r.Bitrate < d.cfg.BitrateRatio*r.MedianBitrate, ReasonBitrateDrop)
		add(r.Lost > 0 && !r.GapSinceKeyframe.IsZero() && now.Sub(r.GapSinceKeyframe) > d.cfg.Window,
			ReasonKeyframesMissing)
	}
	return out
}

func (d *Detector) lossy(t *hub.TrackStats) bool {
	return t != nil && t.Recent.Expected >= d.cfg.MinExpected && t.Recent.LossRatio() > d.cfg.LossRatio
}

// kindOf names a track kind for labels.
func kindOf(k media.Kind) string { return string(k) }
