package upload

import (
	"bytes"
	"context"
	"crypto/md5" //nolint:gosec // S3 ETags are MD5
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vigilrec/vigil/internal/catalog"
	"github.com/vigilrec/vigil/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func md5hex(b []byte) string {
	sum := md5.Sum(b) //nolint:gosec // see import
	return hex.EncodeToString(sum[:])
}

// The ETag is S3's: the MD5 of the content, or of the parts' MD5s with the part count.
func TestExpectedETag(t *testing.T) {
	data := bytes.Repeat([]byte("vigil"), 1000) // 5000 bytes
	etag, _, err := expectedETag(bytes.NewReader(data), int64(len(data)), 5000)
	require.NoError(t, err)
	require.Equal(t, md5hex(data), etag)

	var parts []byte
	for _, p := range [][]byte{data[:2000], data[2000:4000], data[4000:]} {
		sum := md5.Sum(p) //nolint:gosec // see import
		parts = append(parts, sum[:]...)
	}
	etag, sum, err := expectedETag(bytes.NewReader(data), int64(len(data)), 2000)
	require.NoError(t, err)
	require.Equal(t, md5hex(parts)+"-3", etag)
	require.Len(t, sum, 64, "a SHA-256 in hex")
}

func TestKey(t *testing.T) {
	u := &Uploader{cfg: Config{KeyTemplate: "/{node}/{streamName}/{date}/{recordingId}/{file}", Node: "n1"}}
	s := catalog.Segment{Stream: "cam", RecordingID: "r1", Path: "/rec/cam_1.mp4",
		Start: time.Date(2026, 3, 4, 23, 0, 0, 0, time.FixedZone("x", -3600))}
	require.Equal(t, "n1/cam/2026-03-05/r1/cam_1.mp4", u.Key(s), "the date is UTC and the key has no leading slash")
}

type uploadedEvents struct {
	mu   sync.Mutex
	segs []catalog.Segment
}

func (e *uploadedEvents) SegmentUploaded(s catalog.Segment) {
	e.mu.Lock()
	e.segs = append(e.segs, s)
	e.mu.Unlock()
}

func (e *uploadedEvents) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.segs)
}

type fixture struct {
	s3   *testutil.S3Server
	cat  *catalog.Catalog
	up   *Uploader
	ev   *uploadedEvents
	dir  string
	stop func()
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	s3 := testutil.StartS3(t)
	dir := t.TempDir()
	cat, err := catalog.Open(filepath.Join(dir, "catalog.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = cat.Close() })
	cfg.Endpoint, cfg.Bucket, cfg.Region = s3.Endpoint, testutil.S3Bucket, "us-east-1"
	cfg.AccessKey, cfg.SecretKey, cfg.Node = testutil.S3AccessKey, testutil.S3SecretKey, "node"
	ev := &uploadedEvents{}
	up, err := New(cfg, cat, ev, testutil.NewLogs().Logger())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = up.Run(ctx) }()
	f := &fixture{s3: s3, cat: cat, up: up, ev: ev, dir: dir, stop: func() { cancel(); <-done }}
	t.Cleanup(f.stop)
	return f
}

// segment writes a closed segment of size bytes and lists it in the catalog.
func (f *fixture) segment(t *testing.T, name string, size int) (catalog.Segment, []byte) {
	t.Helper()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	path := filepath.Join(f.dir, name)
	require.NoError(t, os.WriteFile(path, data, 0o644))
	s, err := f.cat.Insert(catalog.Segment{Stream: "cam", RecordingID: "r1", Path: path, Container: "mp4",
		Start: time.Now(), Bytes: int64(size), State: catalog.StateClosed})
	require.NoError(t, err)
	return s, data
}

func (f *fixture) waitUploaded(t *testing.T, id string) catalog.Segment {
	t.Helper()
	var s catalog.Segment
	require.Eventually(t, func() bool {
		var err error
		s, err = f.cat.Get(id)
		return err == nil && s.Upload != nil && s.Upload.State == catalog.UploadUploaded
	}, 30*time.Second, 10*time.Millisecond, "segment %s uploaded", id)
	return s
}

// A single and a multipart upload are verified, recorded, told to the events, removed locally
// and downloadable.
func TestUploadVerifiedThenLocalCopyRemoved(t *testing.T) {
	f := newFixture(t, Config{DeleteLocal: true, PartSize: 5 << 20})
	small, smallData := f.segment(t, "small.mp4", 1000)
	big, bigData := f.segment(t, "big.mp4", 5<<20+1)
	require.NoError(t, f.up.Enqueue(small.ID))
	require.NoError(t, f.up.Enqueue(big.ID))

	for _, tc := range []struct {
		seg  catalog.Segment
		data []byte
	}{{small, smallData}, {big, bigData}} {
		s := f.waitUploaded(t, tc.seg.ID)
		require.Equal(t, "node/cam/"+s.Start.UTC().Format("2006-01-02")+"/"+filepath.Base(tc.seg.Path), s.Upload.Key)
		require.NotEmpty(t, s.Upload.SHA256)
		require.Eventually(t, func() bool {
			s, err := f.cat.Get(tc.seg.ID)
			return err == nil && s.Offloaded
		}, 10*time.Second, 10*time.Millisecond, "the local copy is removed once the upload is verified")
		_, err := os.Stat(tc.seg.Path)
		require.ErrorIs(t, err, os.ErrNotExist)

		got, err := f.s3.Get(context.Background(), s.Upload.Key)
		require.NoError(t, err)
		require.True(t, bytes.Equal(tc.data, got), "the object is the file")
		obj, size, _, err := f.up.Open(context.Background(), s.Upload.Key)
		require.NoError(t, err)
		read, err := io.ReadAll(obj)
		require.NoError(t, obj.Close())
		require.NoError(t, err)
		require.Equal(t, int64(len(tc.data)), size)
		require.True(t, bytes.Equal(tc.data, read))
	}
	require.True(t, strings.HasSuffix(f.waitUploaded(t, big.ID).Upload.ETag, "-2"), "the big file went in two parts")
	require.Eventually(t, func() bool { return f.ev.count() == 2 }, 10*time.Second, 10*time.Millisecond)
	st := f.up.Stats()
	require.Equal(t, uint64(2), st.Uploaded)
	require.Equal(t, uint64(len(smallData)+len(bigData)), st.Bytes)
	require.Zero(t, st.Queue)
}

// While the server is down an upload fails and is retried with backoff; it goes through once the
// server is back, and the local copy stays without DeleteLocal.
func TestUploadRetriedWhileServerIsDown(t *testing.T) {
	f := newFixture(t, Config{RetryMin: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond})
	f.s3.Stop()
	seg, _ := f.segment(t, "a.mp4", 1000)
	require.NoError(t, f.up.Enqueue(seg.ID))
	require.Eventually(t, func() bool {
		s, err := f.cat.Get(seg.ID)
		return err == nil && s.Upload != nil && s.Upload.State == catalog.UploadFailed && s.Upload.LastError != ""
	}, 30*time.Second, 10*time.Millisecond, "the failure is recorded")
	require.Positive(t, f.up.Stats().Failures)

	f.s3.Start()
	s := f.waitUploaded(t, seg.ID)
	require.Positive(t, s.Upload.Attempts, "the attempts that failed are counted")
	require.Empty(t, s.Upload.LastError)
	_, err := os.Stat(seg.Path)
	require.NoError(t, err, "without DeleteLocal the local copy stays")
	require.False(t, s.Offloaded)
	require.Equal(t, 1, f.ev.count())
}
