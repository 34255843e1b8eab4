package diskguard

import (
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type fakeCatalog struct {
	mu      sync.Mutex
	segs    []Segment
	deleted []string
	reasons []string
	onDel   func(Segment)
}

func (f *fakeCatalog) Deletable() ([]Segment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Segment(nil), f.segs...), nil
}

func (f *fakeCatalog) Delete(id, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, s := range f.segs {
		if s.ID == id {
			f.segs = append(f.segs[:i], f.segs[i+1:]...)
			f.deleted, f.reasons = append(f.deleted, id), append(f.reasons, reason)
			if f.onDel != nil {
				f.onDel(s)
			}
			return nil
		}
	}
	return nil
}

type fakeRecorder struct {
	paused, resumed int
	written         int64
	perStream       map[string]int64
	maxDuration     time.Duration
	maxBytes        int64
}

func (f *fakeRecorder) Pause(string) { f.paused++ }
func (f *fakeRecorder) Resume()      { f.resumed++ }
func (f *fakeRecorder) BytesWritten() (int64, map[string]int64) {
	return f.written, maps.Clone(f.perStream)
}
func (f *fakeRecorder) LimitSegments(d time.Duration, b int64) { f.maxDuration, f.maxBytes = d, b }

// fakeDisk is a volume whose free space the test sets and deletions raise.
type fakeDisk struct{ free, total uint64 }

func newGuard(t *testing.T, cfg Config, cat *fakeCatalog, rec *fakeRecorder, disk *fakeDisk) *Guard {
	t.Helper()
	g := New(cfg, cat, rec, nil, slog.New(slog.DiscardHandler))
	g.statfs = func(string) (uint64, uint64, error) { return disk.free, disk.total, nil }
	cat.onDel = func(s Segment) { disk.free += uint64(s.Bytes) }
	return g
}

func TestParseThreshold(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Threshold
	}{{"10%", Threshold{Percent: 10}}, {"2GiB", Threshold{Bytes: 2 << 30}}, {"500M", Threshold{Bytes: 500e6}},
		{"4096", Threshold{Bytes: 4096}}, {" 1.5% ", Threshold{Percent: 1.5}}} {
		got, err := ParseThreshold(tc.in)
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
	for _, bad := range []string{"", "lots", "120%", "-5M"} {
		_, err := ParseThreshold(bad)
		require.Error(t, err, bad)
	}
	require.EqualValues(t, 100, Threshold{Percent: 10}.Of(1000))
}

func seg(id, stream string, mb int64, age time.Duration, uploaded bool) Segment {
	now := time.Now()
	return Segment{ID: id, Stream: stream, Bytes: mb << 20, Start: now.Add(-age), End: now.Add(-age + time.Second), Uploaded: uploaded}
}

// Under min_free, delete-oldest deletes uploaded segments first, then the oldest, and stops as
// soon as there is enough space.
func TestDeleteOldestOrder(t *testing.T) {
	cat := &fakeCatalog{segs: []Segment{
		seg("old", "a", 10, 3*time.Hour, false), seg("newer-uploaded", "a", 10, time.Hour, true),
		seg("mid", "b", 10, 2*time.Hour, false), seg("new", "b", 10, time.Minute, false),
	}}
	disk := &fakeDisk{free: 5 << 20, total: 100 << 20}
	rec := &fakeRecorder{}
	g := newGuard(t, Config{MinFree: Threshold{Bytes: 22 << 20}, HardFloor: Threshold{Bytes: 2 << 20}, Policy: DeleteOldest},
		cat, rec, disk)
	g.Check()
	require.Equal(t, []string{"newer-uploaded", "old"}, cat.deleted)
	snap := g.Snapshot()
	require.True(t, snap.Low, "a low-space episode began")
	require.GreaterOrEqual(t, snap.Free, snap.MinFree)
	require.False(t, snap.Paused)
	require.EqualValues(t, 2, snap.Deletions)
	require.NoError(t, g.Allow("x"))
}

// stop-new refuses under min_free; under the hard floor recording pauses, and resumes only once
// free space is back above min_free.
func TestStopNewAndHardFloor(t *testing.T) {
	cat := &fakeCatalog{}
	disk := &fakeDisk{free: 50 << 20, total: 100 << 20}
	rec := &fakeRecorder{}
	g := newGuard(t, Config{MinFree: Threshold{Percent: 20}, HardFloor: Threshold{Percent: 5}, Policy: StopNew}, cat, rec, disk)
	g.Check()
	require.NoError(t, g.Allow("x"))
	disk.free = 15 << 20
	g.Check()
	require.ErrorIs(t, g.Allow("x"), ErrLowDisk)
	require.Zero(t, rec.paused)
	disk.free = 4 << 20
	g.Check()
	require.Equal(t, 1, rec.paused)
	disk.free = 10 << 20 // above the floor, still under min_free: stays paused
	g.Check()
	require.Zero(t, rec.resumed)
	disk.free = 30 << 20
	g.Check()
	require.Equal(t, 1, rec.resumed)
	require.NoError(t, g.Allow("x"))
}

func TestRetention(t *testing.T) {
	cat := &fakeCatalog{segs: []Segment{
		seg("ancient", "a", 1, 48*time.Hour, false), seg("a1", "a", 4, 3*time.Hour, false), seg("a2", "a", 4, 2*time.Hour, false),
		seg("b1", "b", 4, 3*time.Hour, false), seg("b2", "b", 4, time.Hour, false),
	}}
	disk := &fakeDisk{free: 90 << 20, total: 100 << 20}
	g := newGuard(t, Config{MinFree: Threshold{Percent: 1}, HardFloor: Threshold{Percent: 0}, Policy: DeleteOldest,
		MaxAge: 24 * time.Hour, MaxBytesPerStream: 5 << 20, MaxBytes: 5 << 20}, cat, &fakeRecorder{}, disk)
	g.Check()
	require.Equal(t, []string{"ancient", "a1", "b1"}, cat.deleted[:3])
	require.Equal(t, []string{"max_age", "max_bytes_per_stream", "max_bytes_per_stream"}, cat.reasons[:3])
	var left int64
	for _, s := range cat.segs {
		left += s.Bytes
	}
	require.LessOrEqual(t, left, int64(5<<20))
}

func TestWriteRateAndTimeToFull(t *testing.T) {
	disk := &fakeDisk{free: 100 << 20, total: 200 << 20}
	rec := &fakeRecorder{}
	g := newGuard(t, Config{MinFree: Threshold{Bytes: 10 << 20}, HardFloor: Threshold{Bytes: 0}, Policy: DeleteOldest},
		&fakeCatalog{}, rec, disk)
	now := time.Unix(1000, 0)
	g.now = func() time.Time { return now }
	g.Check()
	require.Less(t, g.Snapshot().TimeToFull, time.Duration(0), "not filling yet")
	for range 30 {
		now = now.Add(time.Second)
		rec.written += 1 << 20
		g.Check()
	}
	snap := g.Snapshot()
	require.InDelta(t, float64(1<<20), snap.WriteRate, float64(1<<20)*0.05)
	require.InDelta(t, 100.0, snap.TimeToFull.Seconds(), 6)
}

type countEvents struct{ low, ok int }

func (c *countEvents) DiskLow(Snapshot) { c.low++ }
func (c *countEvents) DiskOK(Snapshot)  { c.ok++ }

// A ring-buffer archive dips under min_free at every check and deletes its way back: that is one
// low-space episode (one disk.low), which ends once free space stays above min_free.
func TestLowSpaceEpisode(t *testing.T) {
	disk := &fakeDisk{free: 50 << 20, total: 100 << 20}
	cat := &fakeCatalog{}
	for i := range 40 {
		cat.segs = append(cat.segs, seg(fmt.Sprint(i), "a", 1, time.Duration(40-i)*time.Minute, false))
	}
	events := &countEvents{}
	g := newGuard(t, Config{MinFree: Threshold{Bytes: 20 << 20}, HardFloor: Threshold{Bytes: 2 << 20}, Policy: DeleteOldest},
		cat, &fakeRecorder{}, disk)
	g.events = events
	now := time.Unix(1000, 0)
	g.now = func() time.Time { return now }
	for range 20 {
		now = now.Add(time.Second)
		disk.free = 19 << 20 // written since the last check
		g.Check()
		require.GreaterOrEqual(t, disk.free, uint64(20<<20))
	}
	require.Equal(t, 1, events.low)
	require.Zero(t, events.ok)
	for range 29 {
		now = now.Add(time.Second)
		g.Check()
	}
	require.True(t, g.Snapshot().Low, "the episode lasts until free space stays above min_free")
	now = now.Add(2 * time.Second)
	g.Check()
	require.False(t, g.Snapshot().Low)
	require.Equal(t, 1, events.ok)
	disk.free = 10 << 20
	g.Check()
	require.Equal(t, 2, events.low, "a new episode")
}

// The thresholds follow the load: min_free is at least Headroom of writing at the peak rate
// (capped on a small volume), the hard floor at least FloorSeconds of it; a pause (no writing)
// does not lower them at once; checks come faster as the time to full shrinks.
func TestThresholdsFollowTheWriteRate(t *testing.T) {
	disk := &fakeDisk{free: 900 << 20, total: 1000 << 20}
	rec := &fakeRecorder{}
	g := newGuard(t, Config{MinFree: Threshold{Percent: 5}, HardFloor: Threshold{Percent: 1}, Policy: DeleteOldest,
		Interval: time.Second, Headroom: 30 * time.Second}, &fakeCatalog{}, rec, disk)
	now := time.Unix(1000, 0)
	g.now = func() time.Time { return now }
	g.Check()
	require.EqualValues(t, 50<<20, g.Snapshot().MinFree, "nothing written: the configured thresholds")
	for range 60 {
		now = now.Add(time.Second)
		rec.written += 4 << 20
		disk.free -= 4 << 20
		g.Check()
	}
	snap := g.Snapshot()
	require.InDelta(t, 4<<20, snap.WriteRate, 0.05*(4<<20))
	require.InDelta(t, 30*(4<<20), float64(snap.MinFree), 0.05*30*(4<<20))
	require.InDelta(t, 3*(4<<20), float64(snap.HardFloor), 0.05*3*(4<<20))
	for range 10 { // paused: nothing written
		now = now.Add(time.Second)
		g.Check()
	}
	require.Greater(t, g.Snapshot().MinFree, uint64(100<<20), "the peak rate still counts")

	disk.total, disk.free = 64<<20, 30<<20 // a small volume: the raise is capped
	rec.written += 4 << 20
	now = now.Add(time.Second)
	g.Check()
	snap = g.Snapshot()
	require.EqualValues(t, uint64(float64(disk.total)*MaxHeadroomShare), snap.MinFree)
	require.LessOrEqual(t, snap.HardFloor, snap.MinFree/2)
	require.Less(t, g.nextCheck(), time.Second, "%v to full: checks come faster", snap.TimeToFull)
	require.GreaterOrEqual(t, g.nextCheck(), minInterval)
}

// Under delete-oldest, segments are bounded so every recording has finished segments: an
// automatic bound shares a quarter of the volume among the streams being recorded.
func TestSegmentLimit(t *testing.T) {
	disk := &fakeDisk{free: 900 << 20, total: 1000 << 20}
	rec := &fakeRecorder{perStream: map[string]int64{}}
	g := newGuard(t, Config{MinFree: Threshold{Percent: 5}, Policy: DeleteOldest,
		MaxSegment: SegmentLimit{Duration: 5 * time.Minute, Auto: true}}, &fakeCatalog{}, rec, disk)
	now := time.Unix(1000, 0)
	g.now = func() time.Time { return now }
	for range 10 {
		now = now.Add(time.Second)
		for _, name := range []string{"a", "b", "c", "d"} {
			rec.perStream[name] += 100 << 10
		}
		g.Check()
	}
	require.Equal(t, 5*time.Minute, rec.maxDuration)
	total := float64(disk.total)
	require.EqualValues(t, int64(total*AutoShare)/4, rec.maxBytes)
	for range 60 { // b, c and d stop: their rates fade and they leave the count
		now = now.Add(time.Second)
		rec.perStream["a"] += 100 << 10
		g.Check()
	}
	require.EqualValues(t, int64(total*AutoShare), rec.maxBytes)
	require.Len(t, g.Snapshot().StreamRates, 1)

	rec = &fakeRecorder{}
	g = newGuard(t, Config{MinFree: Threshold{Percent: 5}, Policy: StopNew,
		MaxSegment: SegmentLimit{Duration: 5 * time.Minute, Auto: true}}, &fakeCatalog{}, rec, disk)
	g.Check()
	require.Zero(t, rec.maxDuration, "stop-new deletes nothing: segments keep the rotation asked for")
}

// The history keeps one sample per HistoryStep for an hour, drops what is older, and ends with
// the last check.
func TestHistory(t *testing.T) {
	disk := &fakeDisk{free: 100 << 20, total: 200 << 20}
	g := newGuard(t, Config{Policy: DeleteOldest}, &fakeCatalog{}, &fakeRecorder{}, disk)
	require.Empty(t, g.History(), "nothing before the first check")
	start := time.Unix(1000, 0)
	now := start
	g.now = func() time.Time { return now }
	for i := range 2*3600 + 5 { // two hours and five seconds, a check a second
		now = start.Add(time.Duration(i) * time.Second)
		disk.free = uint64(100<<20 - i)
		g.Check()
	}
	h := g.History()
	require.Len(t, h, int(historySpan/HistoryStep)+1, "an hour of samples and the last check")
	for i := 1; i < len(h)-1; i++ {
		require.Equal(t, HistoryStep, h[i].Time.Sub(h[i-1].Time), "sample %d", i)
	}
	last := h[len(h)-1]
	require.Equal(t, now, last.Time)
	require.Equal(t, disk.free, last.Free)
	require.Less(t, now.Sub(h[0].Time), historySpan+HistoryStep, "nothing older than an hour is kept")
}
