package recorder

import (
	"log/slog"
	"sync/atomic"
	"time"
)

// Loss counts what a recording's track readers did about an imperfect network, over the whole
// recording (every publishing session of it).
type Loss struct {
	// PacketsLost counts sequence numbers given up: never received in time.
	PacketsLost uint64
	// PacketsLate counts packets that arrived after they were given up (retransmissions too
	// late); Duplicates counts packets received twice.
	PacketsLate, Duplicates uint64
	// HolesFilled counts packets that arrived after later ones (retransmissions, reordering)
	// and were still in time to be used.
	HolesFilled uint64
	// FramesRecovered counts frames written whole thanks to such packets.
	FramesRecovered uint64
	// FramesDropped counts video frames dropped because packets of theirs were lost.
	FramesDropped uint64
	// FramesSkipped counts whole video frames skipped while waiting for a keyframe (they depend
	// on a dropped one).
	FramesSkipped uint64
	// KeyframeWaits counts the waits for a keyframe after a dropped frame; Skipped is the video
	// time they skipped in total, LongestSkip the longest.
	KeyframeWaits        uint64
	Skipped, LongestSkip time.Duration
	// Discontinuities counts the new segments started because a track's timeline broke (an
	// encoder restart, a stall, a new RTP source).
	Discontinuities uint64
}

// lossStats is a recording's Loss, updated by its goroutine and read by status and metrics.
type lossStats struct {
	packetsLost, late, duplicates, holesFilled    atomic.Uint64
	framesRecovered, framesDropped, framesSkipped atomic.Uint64
	keyframeWaits, discontinuities                atomic.Uint64
	skipped, longestSkip                          atomic.Int64
}

func (l *lossStats) noteSkip(d time.Duration) {
	l.skipped.Add(int64(d))
	if int64(d) > l.longestSkip.Load() {
		l.longestSkip.Store(int64(d)) // one writer: the recording's goroutine
	}
}

func (l *lossStats) snapshot() Loss {
	return Loss{PacketsLost: l.packetsLost.Load(), PacketsLate: l.late.Load(), Duplicates: l.duplicates.Load(),
		HolesFilled: l.holesFilled.Load(), FramesRecovered: l.framesRecovered.Load(),
		FramesDropped: l.framesDropped.Load(), FramesSkipped: l.framesSkipped.Load(),
		KeyframeWaits: l.keyframeWaits.Load(), Skipped: time.Duration(l.skipped.Load()),
		LongestSkip: time.Duration(l.longestSkip.Load()), Discontinuities: l.discontinuities.Load()}
}

// logSummary writes the recording's loss figures in one line, when it stops.
func (l Loss) logSummary(log *slog.Logger) {
	log.Info("recording loss summary", "packets_lost", l.PacketsLost, "packets_late", l.PacketsLate,
		"duplicates", l.Duplicates, "holes_filled", l.HolesFilled, "frames_recovered", l.FramesRecovered,
		"frames_dropped", l.FramesDropped, "frames_skipped", l.FramesSkipped, "keyframe_waits", l.KeyframeWaits,
		"skipped", l.Skipped, "longest_skip", l.LongestSkip, "discontinuities", l.Discontinuities)
}

func (l Loss) add(o Loss) Loss {
	return Loss{PacketsLost: l.PacketsLost + o.PacketsLost, PacketsLate: l.PacketsLate + o.PacketsLate,
		Duplicates: l.Duplicates + o.Duplicates, HolesFilled: l.HolesFilled + o.HolesFilled,
		FramesRecovered: l.FramesRecovered + o.FramesRecovered, FramesDropped: l.FramesDropped + o.FramesDropped,
		FramesSkipped: l.FramesSkipped + o.FramesSkipped, KeyframeWaits: l.KeyframeWaits + o.KeyframeWaits,
		Skipped: l.Skipped + o.Skipped, LongestSkip: max(l.LongestSkip, o.LongestSkip),
		Discontinuities: l.Discontinuities + o.Discontinuities}
}

// Loss adds up what every recording of the manager did about loss since it started.
func (m *Manager) Loss() Loss {
	m.mu.Lock()
	defer m.mu.Unlock()
	total := m.finishedLoss
	for _, r := range m.active {
		total = total.add(r.loss.snapshot())
	}
	return total
}
