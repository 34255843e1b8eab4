// Package diskguard keeps the recordings volume from filling up. About every second (more often
// as the time to full shrinks) it reads the free space (statfs) and the write rate, estimates the
// time to full, applies retention (age and size, in total and per stream), and acts on the
// free-space policy before any write can fail: delete-oldest deletes the oldest finished segments
// (already-uploaded ones first) and bounds segments so there always are finished ones; stop-new
// refuses new recordings. The thresholds follow the load: min_free is at least Headroom of
// writing at the recent peak rate, the hard floor a few seconds of it. Below the hard floor it
// pauses recording until space is back.
//
// It reads and deletes through the Catalog and Recorder interfaces it declares; it never imports
// the recorder, the catalog or storage.
package diskguard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrLowDisk is returned by Allow when the stop-new policy refuses a recording.
var ErrLowDisk = errors.New("not enough free disk space for a new recording")

// Policy is what happens when free space falls under MinFree.
type Policy string

// The policies.
const (
	DeleteOldest Policy = "delete-oldest"
	StopNew      Policy = "stop-new"
)

// Threshold is a size in bytes or a percentage of the volume.
type Threshold struct {
	Bytes   int64
	Percent float64
}

// ParseThreshold reads "2GiB", "500M", "4096" or "10%".
func ParseThreshold(s string) (Threshold, error) {
	s = strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || v < 0 || v > 100 {
			return Threshold{}, fmt.Errorf("%q is not a percentage from 0%% to 100%%", s)
		}
		return Threshold{Percent: v}, nil
	}
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 {
		return Threshold{}, fmt.Errorf("%q is not a size (2GiB, 500M) or a percentage (10%%)", s)
	}
	return Threshold{Bytes: int64(v * float64(mult))}, nil
}

// Of resolves the threshold against a volume of total bytes.
func (t Threshold) Of(total uint64) uint64 {
	if t.Percent > 0 {
		return uint64(float64(total) * t.Percent / 100)
	}
	return uint64(t.Bytes)
}

// Config of the guard.
type Config struct {
	Dir                string
	MinFree, HardFloor Threshold
	Policy             Policy
	Interval           time.Duration
	MaxAge             time.Duration
	MaxBytes           int64
	MaxBytesPerStream  int64
	// Headroom raises MinFree to at least this long of writing at the recent peak write rate
	// (and HardFloor to FloorSeconds of it); 0 keeps the configured thresholds as they are.
	Headroom time.Duration
	// MaxSegment bounds segments under delete-oldest, so every recording has finished segments
	// the guard may delete.
	MaxSegment SegmentLimit
}

// SegmentLimit bounds segments: at most Duration long (0: no bound), and with Auto at most a
// share of the volume (AutoShare of it, divided among the streams being recorded).
type SegmentLimit struct {
	Duration time.Duration
	Auto     bool
}

// AutoSegmentDuration is the longest segment under an automatic limit.
const AutoSegmentDuration = 5 * time.Minute

// ParseSegmentLimit reads "auto", "off" (or "0") and durations from 10s to 24h ("2m").
func ParseSegmentLimit(s string) (SegmentLimit, error) {
	switch s = strings.TrimSpace(s); s {
	case "auto", "":
		return SegmentLimit{Duration: AutoSegmentDuration, Auto: true}, nil
	case "off", "0":
		return SegmentLimit{}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 10*time.Second || d > 24*time.Hour {
		return SegmentLimit{}, fmt.Errorf("%q is not auto, off or a duration from 10s to 24h", s)
	}
	return SegmentLimit{Duration: d}, nil
}

// Tuning of the load-following thresholds.
const (
	// FloorSeconds of writing at the peak rate is the least hard floor.
	FloorSeconds = 3
	// MaxHeadroomShare caps the load-following min_free on a small volume (the configured
	// thresholds are never lowered).
	MaxHeadroomShare = 0.4
	// AutoShare of the volume is what all open segments may take together with an automatic
	// segment limit.
	AutoShare = 0.25
	// MinAutoSegment is the least size of an automatic segment limit (a few seconds of a
	// low-rate stream; the cut waits for a keyframe anyway).
	MinAutoSegment = 256 << 10
	// peakDecay is how long a past peak of the write rate keeps counting (it fades
	// exponentially), so a pause does not lower the headroom that resuming needs.
	peakDecay = time.Minute
	// episodeQuiet is how long free space must stay above min_free for a low-space episode to
	// end: one disk.low and one disk.ok per episode, not one per deletion.
	episodeQuiet = 30 * time.Second
	// writingRate (bytes/s) is the least smoothed rate of a stream counted as being recorded.
	writingRate = 1024
	// minInterval is the shortest time between two checks when the volume fills fast.
	minInterval = 100 * time.Millisecond
)

// Segment is a finished segment the guard may delete.
type Segment struct {
	ID       string
	Stream   string
	Bytes    int64
	Start    time.Time
	End      time.Time
	Uploaded bool
}

// Catalog lists and deletes finished segments.
type Catalog interface {
	// Deletable lists finished segments whose local file exists (never one being written).
	Deletable() ([]Segment, error)
	// Delete removes the segment's local file and records the deletion with its reason.
	Delete(id, reason string) error
}

// Recorder is the recording side the guard controls and measures.
type Recorder interface {
	// Pause closes every open segment cleanly and writes nothing until Resume.
	Pause(reason string)
	Resume()
	// BytesWritten is the total written by every recording since start, and per stream.
	BytesWritten() (total int64, perStream map[string]int64)
	// LimitSegments bounds every recording's segments (a zero bound is no bound): a segment
	// past either is cut at the next keyframe, as rotation does.
	LimitSegments(maxDuration time.Duration, maxBytes int64)
}

// Events receives disk state changes (for webhooks).
type Events interface {
	DiskLow(Snapshot)
	DiskOK(Snapshot)
}

// Snapshot is the guard's view of the volume.
type Snapshot struct {
	Free, Total uint64
	// MinFree and HardFloor are the effective thresholds: the configured ones, raised to follow
	// the write rate (see Config.Headroom).
	MinFree, HardFloor uint64
	Policy             Policy
	WriteRate          float64 // bytes/s, smoothed
	PeakRate           float64 // bytes/s, the recent peak of WriteRate
	StreamRates        map[string]float64
	TimeToFull         time.Duration // -1 when not filling
	// Low is a low-space episode: free space was under MinFree in the last episodeQuiet.
	Low         bool
	Paused      bool // under the hard floor: recording paused
	RefusingNew bool
	// MaxSegmentDuration and MaxSegmentBytes are the bounds given to recordings (0: none).
	MaxSegmentDuration time.Duration
	MaxSegmentBytes    int64
	Deletions          uint64
	DeletedBytes       uint64
	DeletionsByReason  map[string]uint64
	LastError          string
	Checked            time.Time
}

// Guard watches the volume.
type Guard struct {
	cfg     Config
	catalog Catalog
	rec     Recorder
	events  Events
	log     *slog.Logger
	statfs  func(dir string) (free, total uint64, err error)
	now     func() time.Time

	mu        sync.Mutex
	snap      Snapshot
	lastBytes int64
	lastPer   map[string]int64
	lastAt    time.Time
	lastLow   time.Time // when free space was last seen under min_free
	history   history
}

// Sample is the volume at one moment of the history.
type Sample struct {
	Time       time.Time
	Free       uint64
	Total      uint64
	WriteRate  float64       // bytes/s, smoothed
	TimeToFull time.Duration // -1 when not filling
}

// The history keeps a sample every HistoryStep over historySpan: the last hour, as a chart shows it.
const (
	HistoryStep = 10 * time.Second
	historySpan = time.Hour
)

// history is a ring of samples, oldest first once full.
type history struct {
	samples []Sample
	next    int
}

func (h *history) add(s Sample) {
	n := int(historySpan / HistoryStep)
	if len(h.samples) > 0 {
		last := h.samples[(h.next+len(h.samples)-1)%len(h.samples)]
		if s.Time.Sub(last.Time) < HistoryStep {
			return
		}
	}
	if len(h.samples) < n {
		h.samples = append(h.samples, s)
		return
	}
	h.samples[h.next] = s
	h.next = (h.next + 1) % n
}

func (h *history) list() []Sample {
	out := make([]Sample, 0, len(h.samples))
	out = append(out, h.samples[h.next:]...)
	return append(out, h.samples[:h.next]...)
}

// New returns a guard; Run must be running for it to act. events may be nil.
func New(cfg Config, catalog Catalog, rec Recorder, events Events, log *slog.Logger) *Guard {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	return &Guard{cfg: cfg, catalog: catalog, rec: rec, events: events, log: log, statfs: statfs, now: time.Now,
		snap: Snapshot{Policy: cfg.Policy, TimeToFull: -1, DeletionsByReason: map[string]uint64{}}}
}

// Run checks the volume until ctx ends: every interval, and more often as the time to full
// shrinks, so no write can pass from min_free to the hard floor between two checks.
func (g *Guard) Run(ctx context.Context) error {
	g.Check()
	t := time.NewTimer(g.nextCheck())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			g.Check()
			t.Reset(g.nextCheck())
		}
	}
}

// nextCheck is the wait before the next check: the interval, or a twentieth of the time to the
// hard floor when that is shorter (at least minInterval).
func (g *Guard) nextCheck() time.Duration {
	g.mu.Lock()
	ttf := g.snap.TimeToFull
	g.mu.Unlock()
	if ttf >= 0 && ttf/20 < g.cfg.Interval {
		return max(ttf/20, minInterval)
	}
	return g.cfg.Interval
}

// Allow is consulted before a recording starts: under stop-new with low space it refuses.
func (g *Guard) Allow(string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.snap.RefusingNew {
		return fmt.Errorf("%w: %d MiB free, %d MiB kept free (policy stop-new)", ErrLowDisk,
			g.snap.Free>>20, g.snap.MinFree>>20)
	}
	return nil
}

// Snapshot returns the last state.
func (g *Guard) Snapshot() Snapshot {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.snap
	s.DeletionsByReason = make(map[string]uint64, len(g.snap.DeletionsByReason))
	for k, v := range g.snap.DeletionsByReason {
		s.DeletionsByReason[k] = v
	}
	s.StreamRates = make(map[string]float64, len(g.snap.StreamRates))
	for k, v := range g.snap.StreamRates {
		s.StreamRates[k] = v
	}
	return s
}

// History returns the volume's samples of the last hour, one per HistoryStep, oldest first, and
// the last check's as the newest.
func (g *Guard) History() []Sample {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := g.history.list()
	if s := g.snap; !s.Checked.IsZero() && (len(out) == 0 || s.Checked.After(out[len(out)-1].Time)) {
		out = append(out, Sample{Time: s.Checked, Free: s.Free, Total: s.Total, WriteRate: s.WriteRate, TimeToFull: s.TimeToFull})
	}
	return out
}

// Check reads the volume and acts once.
func (g *Guard) Check() {
	free, total, err := g.statfs(g.cfg.Dir)
	if err != nil {
		g.setError(fmt.Errorf("statfs %s: %w", g.cfg.Dir, err))
		return
	}
	g.measureRates()
	g.limitSegments(total)
	g.applyRetention()
	minFree, floor := g.thresholds(total)
	under := free < minFree
	if g.cfg.Policy == DeleteOldest && under {
		free = g.deleteForSpace(free, minFree)
	}
	free, total, err = g.statfs(g.cfg.Dir)
	if err != nil {
		g.setError(fmt.Errorf("statfs %s: %w", g.cfg.Dir, err))
		return
	}
	now := g.now()
	g.mu.Lock()
	prev := g.snap
	s := &g.snap
	s.Free, s.Total, s.MinFree, s.HardFloor, s.Checked = free, total, minFree, floor, now
	under = under || free < minFree
	switch {
	case under:
		s.Low, g.lastLow = true, now
	case s.Low && now.Sub(g.lastLow) >= episodeQuiet:
		s.Low = false
	}
	s.RefusingNew = g.cfg.Policy == StopNew && free < minFree
	switch {
	case free < floor:
		s.Paused = true
	case free >= minFree:
		s.Paused = false // hysteresis: resume only once back above min_free
	}
	s.TimeToFull = -1
	if s.WriteRate > 0 && free > floor {
		s.TimeToFull = time.Duration(float64(free-floor) / s.WriteRate * float64(time.Second))
	} else if s.WriteRate > 0 {
		s.TimeToFull = 0
	}
	s.LastError = ""
	g.history.add(Sample{Time: now, Free: free, Total: total, WriteRate: s.WriteRate, TimeToFull: s.TimeToFull})
	cur := *s
	g.mu.Unlock()
	g.transitions(prev, cur)
}

func (g *Guard) transitions(prev, cur Snapshot) {
	if cur.Paused && !prev.Paused {
		g.log.Error("free space under the hard floor: recordings paused", "free_bytes", cur.Free, "hard_floor_bytes", cur.HardFloor)
		g.rec.Pause(fmt.Sprintf("free disk space under the hard floor (%d MiB free)", cur.Free>>20))
	}
	if !cur.Paused && prev.Paused {
		g.log.Info("free space is back: recordings resume", "free_bytes", cur.Free)
		g.rec.Resume()
	}
	if cur.Low && !prev.Low {
		g.log.Warn("free disk space is low", "free_bytes", cur.Free, "min_free_bytes", cur.MinFree, "policy", cur.Policy)
		if g.events != nil {
			g.events.DiskLow(cur)
		}
	}
	if !cur.Low && prev.Low {
		g.log.Info("free disk space is fine again", "free_bytes", cur.Free)
		if g.events != nil {
			g.events.DiskOK(cur)
		}
	}
}

func (g *Guard) setError(err error) {
	g.log.Error("disk check failed", "err", err)
	g.mu.Lock()
	g.snap.LastError = err.Error()
	g.mu.Unlock()
}

// thresholds are the effective min_free and hard floor on a volume of total bytes: the
// configured ones, raised to Headroom (min_free) and FloorSeconds (floor) of writing at the recent
// peak rate. The raise is capped at MaxHeadroomShare of the volume, and the raised floor stays
// under half of min_free, so a small volume still holds recordings.
func (g *Guard) thresholds(total uint64) (minFree, floor uint64) {
	minFree, floor = g.cfg.MinFree.Of(total), g.cfg.HardFloor.Of(total)
	g.mu.Lock()
	peak := g.snap.PeakRate
	g.mu.Unlock()
	if g.cfg.Headroom <= 0 || peak <= 0 {
		return minFree, floor
	}
	capped := uint64(float64(total) * MaxHeadroomShare)
	minFree = max(minFree, min(uint64(peak*g.cfg.Headroom.Seconds()), capped))
	floor = max(floor, min(uint64(peak*FloorSeconds), minFree/2))
	return minFree, floor
}

// limitSegments tells the recorder how long its segments may grow (delete-oldest only): a
// recording that is one growing file leaves nothing to delete.
func (g *Guard) limitSegments(total uint64) {
	if g.cfg.Policy != DeleteOldest || (g.cfg.MaxSegment.Duration <= 0 && !g.cfg.MaxSegment.Auto) {
		return
	}
	var maxBytes int64
	if g.cfg.MaxSegment.Auto {
		g.mu.Lock()
		writing := 0
		for _, r := range g.snap.StreamRates {
			if r >= writingRate {
				writing++
			}
		}
		g.mu.Unlock()
		maxBytes = max(int64(float64(total)*AutoShare)/int64(max(writing, 1)), MinAutoSegment)
	}
	g.rec.LimitSegments(g.cfg.MaxSegment.Duration, maxBytes)
	g.mu.Lock()
	g.snap.MaxSegmentDuration, g.snap.MaxSegmentBytes = g.cfg.MaxSegment.Duration, maxBytes
	g.mu.Unlock()
}

// measureRates smooths the write rate (EWMA, about 5 s) in total and per stream.
func (g *Guard) measureRates() {
	total, per := g.rec.BytesWritten()
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.lastAt.IsZero() {
		dt := now.Sub(g.lastAt).Seconds()
		if dt > 0 {
			alpha := 1 - math.Exp(-dt/5)
			inst := float64(total-g.lastBytes) / dt
			g.snap.WriteRate += alpha * (inst - g.snap.WriteRate)
			g.snap.PeakRate = max(g.snap.WriteRate, g.snap.PeakRate*math.Exp(-dt/peakDecay.Seconds()))
			rates := map[string]float64{}
			for name, b := range per {
				r := float64(b-g.lastPer[name]) / dt
				rate := g.snap.StreamRates[name] + alpha*(r-g.snap.StreamRates[name])
				if r == 0 && rate < writingRate {
					continue // a stream no longer recorded leaves the map
				}
				rates[name] = rate
			}
			g.snap.StreamRates = rates
		}
	}
	g.lastBytes, g.lastPer, g.lastAt = total, per, now
}

// order sorts deletion candidates: already-uploaded first, then oldest first.
func order(segs []Segment) {
	sort.SliceStable(segs, func(i, j int) bool {
		if segs[i].Uploaded != segs[j].Uploaded {
			return segs[i].Uploaded
		}
		return segs[i].Start.Before(segs[j].Start)
	})
}

func (g *Guard) delete(s Segment, reason string) bool {
	if err := g.catalog.Delete(s.ID, reason); err != nil {
		g.log.Error("delete segment", "id", s.ID, "reason", reason, "err", err)
		return false
	}
	g.mu.Lock()
	g.snap.Deletions++
	g.snap.DeletedBytes += uint64(s.Bytes)
	g.snap.DeletionsByReason[reason]++
	g.mu.Unlock()
	g.log.Info("deleted segment", "id", s.ID, "stream", s.Stream, "bytes", s.Bytes, "reason", reason)
	return true
}

// deleteForSpace deletes the oldest finished segments until free reaches want or none is left.
func (g *Guard) deleteForSpace(free, want uint64) uint64 {
	segs, err := g.catalog.Deletable()
	if err != nil {
		g.setError(err)
		return free
	}
	order(segs)
	for _, s := range segs {
		if free >= want {
			break
		}
		if g.delete(s, "min_free") {
			free += uint64(s.Bytes)
		}
	}
	return free
}

// applyRetention enforces max_age and the size bounds.
func (g *Guard) applyRetention() {
	if g.cfg.MaxAge <= 0 && g.cfg.MaxBytes <= 0 && g.cfg.MaxBytesPerStream <= 0 {
		return
	}
	segs, err := g.catalog.Deletable()
	if err != nil {
		g.setError(err)
		return
	}
	order(segs)
	now := g.now()
	var keep []Segment
	for _, s := range segs {
		if g.cfg.MaxAge > 0 && !s.End.IsZero() && now.Sub(s.End) > g.cfg.MaxAge {
			g.delete(s, "max_age")
			continue
		}
		keep = append(keep, s)
	}
	if g.cfg.MaxBytesPerStream > 0 {
		per := map[string]int64{}
		for _, s := range keep {
			per[s.Stream] += s.Bytes
		}
		var rest []Segment
		for _, s := range keep {
			if per[s.Stream] > g.cfg.MaxBytesPerStream && g.delete(s, "max_bytes_per_stream") {
				per[s.Stream] -= s.Bytes
				continue
			}
			rest = append(rest, s)
		}
		keep = rest
	}
	if g.cfg.MaxBytes > 0 {
		var total int64
		for _, s := range keep {
			total += s.Bytes
		}
		for _, s := range keep {
			if total <= g.cfg.MaxBytes {
				break
			}
			if g.delete(s, "max_bytes") {
				total -= s.Bytes
			}
		}
	}
}
