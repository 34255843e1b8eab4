package recorder

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/segment"
	"github.com/vigilrec/vigil/internal/testutil"
)

// countingObserver records what the recorder reports of each write.
type countingObserver struct {
	mu     sync.Mutex
	writes int
	bytes  int
}

func (o *countingObserver) ObserveWrite(_ time.Duration, n int, _ error) {
	o.mu.Lock()
	o.writes++
	o.bytes += n
	o.mu.Unlock()
}

func (o *countingObserver) counts() (int, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.writes, o.bytes
}

// A recording's writes are counted and timed, and its closed segment counted.
func TestStatsCountWrites(t *testing.T) {
	clip := packetizeClip(t, media.H264, "240p-h264.h264")
	h := hub.New(hub.Config{QueuePackets: 8192})
	st, err := h.Create("cam", quietSource{})
	require.NoError(t, err)
	defer st.Close()
	st.SetTracks([]hub.TrackInfo{clip.info})
	dir := t.TempDir()
	m := NewManager(Config{Formats: Formats{}, FragmentDuration: time.Second}, h, dirSink{dir}, noEvents{}, discardLogger())
	obs := &countingObserver{}
	m.SetWriteObserver(obs)
	status, err := m.Start("cam", Options{Formats: Formats{}})
	require.NoError(t, err)
	// The recording subscribes from its goroutine.
	testutil.WaitFor(t, "the recording to subscribe", 10*time.Second, func() bool { return st.Snapshot().Subscribers > 0 })
	health, ok := m.StreamHealth("cam")
	require.True(t, ok)
	require.Zero(t, health)
	require.Contains(t, m.Health(), "cam")

	now := time.Now()
	for k, p := range clip.packets {
		cp := *p
		st.Write(&media.Packet{RTP: &rtp.Packet{Header: cp.Header.Clone(), Payload: p.Payload}, Kind: media.KindVideo,
			KeyframeStart: media.IsKeyframeStart(media.H264, p.Payload),
			Arrival:       now.Add(time.Duration(clip.ticks[k]) * time.Second / 90000)})
	}
	// A stop ends a recording at once, whatever is still queued for it: let it take its first
	// keyframe and open its file first.
	testutil.WaitFor(t, "the recording to write", 10*time.Second, func() bool {
		s, err := m.Get(status.ID)
		return err == nil && s.Bytes > 0
	})
	final, err := m.Stop(context.Background(), status.ID)
	require.NoError(t, err)
	require.Len(t, final.Files, 1)
	fi, err := os.Stat(final.Files[0])
	require.NoError(t, err)

	s := m.Stats()
	require.Positive(t, s.Writes)
	require.EqualValues(t, fi.Size(), s.BytesWritten, "every byte of the file went through a counted write")
	require.EqualValues(t, 1, s.SegmentsClosed)
	require.Zero(t, s.WriteErrors)
	writes, bytes := obs.counts()
	require.EqualValues(t, s.Writes, writes)
	require.EqualValues(t, s.BytesWritten, bytes)
	_, ok = m.StreamHealth("cam")
	require.False(t, ok, "no health once the recording has ended")
}

// slowFile takes delay for each write and fails when told to.
type slowFile struct {
	delay time.Duration
	err   error
}

func (f *slowFile) Write(p []byte) (int, error) {
	time.Sleep(f.delay) // the slowness under test, not a wait for something
	if f.err != nil {
		return 0, f.err
	}
	return len(p), nil
}
func (f *slowFile) Seek(int64, int) (int64, error)     { return 0, f.err }
func (f *slowFile) Commit(name string) (string, error) { return name, f.err }
func (f *slowFile) Abort() error                       { return nil }

func TestTimedFileMarksSlowWritesAndErrors(t *testing.T) {
	m := NewManager(Config{FragmentDuration: time.Millisecond}, hub.New(hub.Config{}), dirSink{t.TempDir()},
		noEvents{}, discardLogger())
	r := &Recording{mgr: m}
	f := &slowFile{}
	tf := r.timed(f)
	_, err := tf.Write([]byte("fast"))
	require.NoError(t, err)
	require.True(t, r.health.snapshot().LastSlowWrite.IsZero())

	f.delay = 5 * time.Millisecond
	before := time.Now()
	_, err = tf.Write([]byte("slow"))
	require.NoError(t, err)
	require.False(t, r.health.snapshot().LastSlowWrite.Before(before))

	f.delay, f.err = 0, errors.New("disk on fire")
	_, err = tf.Write([]byte("x"))
	require.Error(t, err)
	_, err = tf.Seek(0, 0)
	require.Error(t, err)
	_, err = tf.Commit("x")
	require.Error(t, err)
	require.Equal(t, Stats{Writes: 3, BytesWritten: 8, WriteErrors: 3}, m.Stats())
}

// vectorFile is a slowFile that also takes vectored writes, as storage's files do.
type vectorFile struct{ slowFile }

func (f *vectorFile) WriteBuffers(bufs [][]byte) (int64, error) {
	var n int64
	for _, b := range bufs {
		n += int64(len(b))
	}
	return n, f.err
}

// TestTimedFileKeepsVectoredWrites checks that the wrapper passes vectored writes through (the
// segment writers look for them on the file they are given) and counts them, and does not
// claim them for a file without them.
func TestTimedFileKeepsVectoredWrites(t *testing.T) {
	m := NewManager(Config{}, hub.New(hub.Config{}), dirSink{t.TempDir()}, noEvents{}, discardLogger())
	r := &Recording{mgr: m}
	_, ok := r.timed(&slowFile{}).(segment.BuffersWriter)
	require.False(t, ok)
	tf, ok := r.timed(&vectorFile{}).(segment.BuffersWriter)
	require.True(t, ok)
	n, err := tf.WriteBuffers([][]byte{[]byte("moof"), []byte("payload")})
	require.NoError(t, err)
	require.EqualValues(t, 11, n)
	require.Equal(t, Stats{Writes: 1, BytesWritten: 11}, m.Stats())
}

func TestNoteDrops(t *testing.T) {
	r := &Recording{}
	r.noteDrops(0)
	require.Zero(t, r.health.snapshot())
	r.noteDrops(5)
	h := r.health.snapshot()
	require.EqualValues(t, 5, h.Dropped)
	require.False(t, h.LastDrop.IsZero())
	r.health.lastDrop.Store(1)
	r.noteDrops(5)
	require.Equal(t, time.Unix(0, 1), r.health.snapshot().LastDrop, "no new drop, no new time")
	r.noteDrops(0) // a new session's subscriber
	require.Zero(t, r.health.snapshot().Dropped)
}
