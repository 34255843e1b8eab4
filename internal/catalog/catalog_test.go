package catalog_test

import (
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/catalog"
)

func open(t *testing.T, path string) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// t0 is the start of the test recordings.
func t0() time.Time { return time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC) }

// seg is a closed segment of stream starting minute m, one minute long.
func seg(stream, recording string, index, m int, state catalog.State) catalog.Segment {
	start := t0().Add(time.Duration(m) * time.Minute)
	return catalog.Segment{RecordingID: recording, Stream: stream, Index: index, Container: "mp4",
		Path: fmt.Sprintf("/rec/%s_%d.mp4", stream, m), VideoCodec: "h264", AudioCodec: "opus",
		Start: start, End: start.Add(time.Minute), Duration: 60, Bytes: 1e6, State: state}
}

func TestInsertGet(t *testing.T) {
	c := open(t, filepath.Join(t.TempDir(), "catalog.db"))
	before := time.Now().UTC()
	in := seg("cam", "r1", 1, 0, catalog.StateRecording)
	s, err := c.Insert(in)
	require.NoError(t, err)
	require.Equal(t, "1", s.ID)
	require.False(t, s.Updated.Before(before))

	got, err := c.Get("1")
	require.NoError(t, err)
	require.Equal(t, s.ID, got.ID)
	require.Equal(t, in.Path, got.Path)
	require.True(t, in.Start.Equal(got.Start))
	require.True(t, in.End.Equal(got.End))
	require.Equal(t, in.Stream, got.Stream)
	require.Equal(t, in.State, got.State)

	s2, err := c.Insert(seg("cam", "r1", 2, 1, catalog.StateRecording))
	require.NoError(t, err)
	require.Equal(t, "2", s2.ID)

	for _, id := range []string{"3", "0", "x", "", "-1", "1.0"} {
		_, err := c.Get(id)
		require.ErrorIs(t, err, catalog.ErrNotFound, "id %q", id)
	}
}

func TestUpdateByRecording(t *testing.T) {
	c := open(t, filepath.Join(t.TempDir(), "catalog.db"))
	_, err := c.Insert(seg("cam", "r1", 1, 0, catalog.StateRecording))
	require.NoError(t, err)
	_, err = c.Insert(seg("cam", "r1", 2, 1, catalog.StateRecording))
	require.NoError(t, err)

	s, err := c.UpdateByRecording("r1", 2, func(s *catalog.Segment) {
		s.State, s.Bytes = catalog.StateClosed, 42
	})
	require.NoError(t, err)
	require.Equal(t, "2", s.ID)
	require.Equal(t, catalog.StateClosed, s.State)

	got, err := c.Get("2")
	require.NoError(t, err)
	require.Equal(t, catalog.StateClosed, got.State)
	require.Equal(t, int64(42), got.Bytes)
	first, err := c.Get("1")
	require.NoError(t, err)
	require.Equal(t, catalog.StateRecording, first.State, "only the named segment changes")

	_, err = c.UpdateByRecording("r1", 3, func(*catalog.Segment) {})
	require.ErrorIs(t, err, catalog.ErrNotFound)
	_, err = c.UpdateByRecording("r2", 1, func(*catalog.Segment) {})
	require.ErrorIs(t, err, catalog.ErrNotFound)
}

// TestUpdateByPath follows a segment through its rename from the part file to its final name.
func TestUpdateByPath(t *testing.T) {
	c := open(t, filepath.Join(t.TempDir(), "catalog.db"))
	in := seg("cam", "", 0, 0, catalog.StateRecording)
	in.Path = "/rec/cam.mp4.part"
	_, err := c.Insert(in)
	require.NoError(t, err)

	s, err := c.UpdateByPath("/rec/cam.mp4.part", func(s *catalog.Segment) {
		s.Path, s.State = "/rec/cam.mp4", catalog.StateRecovered
	})
	require.NoError(t, err)
	require.Equal(t, "/rec/cam.mp4", s.Path)

	_, err = c.UpdateByPath("/rec/cam.mp4.part", func(*catalog.Segment) {})
	require.ErrorIs(t, err, catalog.ErrNotFound, "the old path no longer names it")
	s, err = c.UpdateByPath("/rec/cam.mp4", func(s *catalog.Segment) { s.Error = "cut 10 bytes" })
	require.NoError(t, err)
	require.Equal(t, "1", s.ID)
	require.Equal(t, catalog.StateRecovered, s.State)
	require.Equal(t, "cut 10 bytes", s.Error)

	s, err = c.Update("1", func(s *catalog.Segment) { s.State = catalog.StateDeleted })
	require.NoError(t, err)
	require.Equal(t, catalog.StateDeleted, s.State)
	_, err = c.Update("9", func(*catalog.Segment) {})
	require.ErrorIs(t, err, catalog.ErrNotFound)
	_, err = c.Update("nine", func(*catalog.Segment) {})
	require.ErrorIs(t, err, catalog.ErrNotFound)
}

func ids(segs []catalog.Segment) []string {
	out := []string{}
	for _, s := range segs {
		out = append(out, s.ID)
	}
	return out
}

func TestList(t *testing.T) {
	c := open(t, filepath.Join(t.TempDir(), "catalog.db"))
	for _, s := range []catalog.Segment{
		seg("cam", "r1", 1, 0, catalog.StateClosed),     // 1: 12:00-12:01
		seg("cam", "r1", 2, 1, catalog.StateClosed),     // 2: 12:01-12:02
		seg("door", "r2", 1, 1, catalog.StateClosed),    // 3: 12:01-12:02
		seg("cam", "r3", 1, 5, catalog.StateDeleted),    // 4: 12:05-12:06
		seg("door", "", 0, 10, catalog.StateRecovered),  // 5: 12:10-12:11
		seg("cam", "r4", 1, 20, catalog.StateRecording), // 6: 12:20-
	} {
		if s.State == catalog.StateRecording {
			s.End, s.Duration = time.Time{}, 0
		}
		_, err := c.Insert(s)
		require.NoError(t, err)
	}
	at := func(m int) time.Time { return t0().Add(time.Duration(m) * time.Minute) }
	for _, tc := range []struct {
		name  string
		f     catalog.Filter
		want  []string
		total int
	}{
		{"everything but deleted", catalog.Filter{}, []string{"1", "2", "3", "5", "6"}, 5},
		{"stream", catalog.Filter{Stream: "cam"}, []string{"1", "2", "6"}, 3},
		{"unknown stream", catalog.Filter{Stream: "nope"}, []string{}, 0},
		{"recording", catalog.Filter{RecordingID: "r1"}, []string{"1", "2"}, 2},
		{"deleted only", catalog.Filter{States: []catalog.State{catalog.StateDeleted}}, []string{"4"}, 1},
		{"several states", catalog.Filter{States: []catalog.State{catalog.StateRecovered, catalog.StateRecording}},
			[]string{"5", "6"}, 2},
		{"from", catalog.Filter{From: at(2)}, []string{"2", "3", "5", "6"}, 4},
		{"to", catalog.Filter{To: at(1)}, []string{"1"}, 1},
		{"overlapping a range", catalog.Filter{From: at(1).Add(30 * time.Second), To: at(11)}, []string{"2", "3", "5"}, 3},
		{"an open segment overlaps any later range", catalog.Filter{From: at(60)}, []string{"6"}, 1},
		{"stream and range", catalog.Filter{Stream: "door", From: at(3)}, []string{"5"}, 1},
		{"limit", catalog.Filter{Limit: 2}, []string{"1", "2"}, 5},
		{"offset", catalog.Filter{Offset: 3}, []string{"5", "6"}, 5},
		{"offset and limit", catalog.Filter{Offset: 1, Limit: 2}, []string{"2", "3"}, 5},
		{"offset past the end", catalog.Filter{Offset: 10}, []string{}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, total, err := c.List(tc.f)
			require.NoError(t, err)
			require.Equal(t, tc.want, ids(got))
			require.Equal(t, tc.total, total)
		})
	}
}

// TestListOrderAndDefaultLimit checks that segments come in insertion order past id 255 (the
// keys are big-endian) and that a list is capped at 100 by default.
func TestListOrderAndDefaultLimit(t *testing.T) {
	c := open(t, filepath.Join(t.TempDir(), "catalog.db"))
	const n = 300
	for i := range n {
		_, err := c.Insert(seg("cam", "r", i, i, catalog.StateClosed))
		require.NoError(t, err)
	}
	got, total, err := c.List(catalog.Filter{})
	require.NoError(t, err)
	require.Equal(t, n, total)
	require.Len(t, got, 100)
	got, _, err = c.List(catalog.Filter{Offset: 250, Limit: 1000})
	require.NoError(t, err)
	require.Len(t, got, 50)
	for i, s := range got {
		require.Equal(t, strconv.Itoa(251+i), s.ID)
		require.Equal(t, 250+i, s.Index)
	}
}

// TestReopen checks that the catalog keeps its segments, its lookup keys and its id sequence
// across a restart.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.db")
	c, err := catalog.Open(path)
	require.NoError(t, err)
	_, err = c.Insert(seg("cam", "r1", 1, 0, catalog.StateRecording))
	require.NoError(t, err)
	_, err = c.Insert(seg("cam", "r1", 2, 1, catalog.StateRecording))
	require.NoError(t, err)
	require.NoError(t, c.Close())

	c = open(t, path)
	got, total, err := c.List(catalog.Filter{Stream: "cam"})
	require.NoError(t, err)
	require.Equal(t, 2, total)
	require.Equal(t, []string{"1", "2"}, ids(got))
	_, err = c.UpdateByRecording("r1", 2, func(s *catalog.Segment) { s.State = catalog.StateClosed })
	require.NoError(t, err)
	_, err = c.UpdateByPath("/rec/cam_0.mp4", func(s *catalog.Segment) { s.State = catalog.StateClosed })
	require.NoError(t, err)
	s, err := c.Insert(seg("cam", "r2", 1, 5, catalog.StateRecording))
	require.NoError(t, err)
	require.Equal(t, "3", s.ID, "ids are never reused")
	got, _, err = c.List(catalog.Filter{States: []catalog.State{catalog.StateClosed}})
	require.NoError(t, err)
	require.Equal(t, []string{"1", "2"}, ids(got))
}

func TestOpenBadPath(t *testing.T) {
	_, err := catalog.Open(filepath.Join(t.TempDir(), "missing", "dir", "catalog.db"))
	require.Error(t, err)
}

func TestWebhookEventsKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	c, err := catalog.Open(path)
	require.NoError(t, err)
	k1, err := c.PutEvent("http://a", []byte(`{"id":"1"}`))
	require.NoError(t, err)
	_, err = c.PutEvent("http://b", []byte(`{"id":"2"}`))
	require.NoError(t, err)
	_, err = c.PutEvent("http://a", []byte(`{"id":"3"}`))
	require.NoError(t, err)
	require.NoError(t, c.Close())

	c, err = catalog.Open(path)
	require.NoError(t, err)
	defer c.Close()
	keys, evs, err := c.PendingEvents("http://a")
	require.NoError(t, err)
	require.Equal(t, [][]byte{[]byte(`{"id":"1"}`), []byte(`{"id":"3"}`)}, evs)
	require.Equal(t, k1, keys[0])
	require.NoError(t, c.DeleteEvent(k1))
	_, evs, err = c.PendingEvents("http://a")
	require.NoError(t, err)
	require.Len(t, evs, 1)
}
