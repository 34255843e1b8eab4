// Package upload offloads finished segments to S3-compatible storage (github.com/minio/minio-go).
// The queue lives in the catalog (each segment's upload state), so it survives restarts and
// crashes; the object key of a segment never changes, so a retried upload overwrites rather than
// duplicates. Every upload is verified (size and ETag, computed locally for single and multipart
// uploads); the local file is removed only after that, when configured. Uploads run on their own
// goroutines: S3 slowness or an outage never reaches the media path.
package upload

import (
	"context"
	"crypto/md5" //nolint:gosec // S3 ETags are MD5: used to verify, not to protect
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/vigilrec/vigil/internal/catalog"
)

// ErrVerify means the object in the bucket does not match the local file.
var ErrVerify = errors.New("uploaded object does not match the local file")

// Config of the uploader.
type Config struct {
	Endpoint, Bucket, Region, AccessKey, SecretKey string
	Secure                                         bool
	KeyTemplate, Node                              string
	Concurrency                                    int
	PartSize                                       int64
	DeleteLocal                                    bool
	// RetryMin and RetryMax bound the exponential backoff between attempts (default 1 s, 1 min).
	RetryMin, RetryMax time.Duration
}

// Events receives upload outcomes (for webhooks).
type Events interface {
	SegmentUploaded(catalog.Segment)
}

// Stats describe the queue.
type Stats struct {
	Enabled     bool
	Queue       int // waiting or retrying
	InFlight    int
	Uploaded    uint64
	Failures    uint64
	Bytes       uint64
	LastError   string
	LastErrorAt time.Time
	LastSuccess time.Time
	// Latency is the duration of the last successful upload; LatencySum adds up all of them.
	Latency, LatencySum time.Duration
}

// Uploader runs the offload queue.
type Uploader struct {
	cfg    Config
	client *minio.Client
	cat    *catalog.Catalog
	events Events
	log    *slog.Logger
	wake   chan struct{}

	mu       sync.Mutex
	inflight map[string]bool
	stats    Stats
}

// New connects the client (lazily: nothing is sent until the first upload).
func New(cfg Config, cat *catalog.Catalog, events Events, log *slog.Logger) (*Uploader, error) {
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds: credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""), Secure: cfg.Secure, Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 client for %s: %w", cfg.Endpoint, err)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.PartSize < 5<<20 {
		cfg.PartSize = 16 << 20
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = time.Minute
	}
	if cfg.Node == "" {
		cfg.Node, _ = os.Hostname()
	}
	if cfg.KeyTemplate == "" {
		cfg.KeyTemplate = "{node}/{streamName}/{date}/{file}"
	}
	return &Uploader{cfg: cfg, client: client, cat: cat, events: events, log: log, wake: make(chan struct{}, 1),
		inflight: map[string]bool{}, stats: Stats{Enabled: true}}, nil
}

// Key is the object key of a segment.
func (u *Uploader) Key(s catalog.Segment) string {
	r := strings.NewReplacer("{node}", u.cfg.Node, "{streamName}", s.Stream, "{date}", s.Start.UTC().Format("2006-01-02"),
		"{file}", filepath.Base(s.Path), "{recordingId}", s.RecordingID)
	return strings.TrimLeft(r.Replace(u.cfg.KeyTemplate), "/")
}

// Enqueue marks segment id for upload (persisted) and wakes the queue.
func (u *Uploader) Enqueue(id string) error {
	_, err := u.cat.Update(id, func(s *catalog.Segment) {
		if s.Upload == nil || s.Upload.State != catalog.UploadUploaded {
			s.Upload = &catalog.Upload{State: catalog.UploadPending, Key: u.Key(*s)}
		}
	})
	select {
	case u.wake <- struct{}{}:
	default:
	}
	return err
}

// Stats returns the queue's figures.
func (u *Uploader) Stats() Stats {
	queue := 0
	if segs, err := u.due(time.Time{}); err == nil {
		queue = len(segs)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.stats
	s.Queue, s.InFlight = queue, len(u.inflight)
	return s
}

// due lists segments waiting for upload; with a non-zero now, only those whose retry time came.
func (u *Uploader) due(now time.Time) ([]catalog.Segment, error) {
	segs, _, err := u.cat.List(catalog.Filter{Limit: 1 << 30, States: []catalog.State{catalog.StateClosed, catalog.StateRecovered}})
	if err != nil {
		return nil, err
	}
	var out []catalog.Segment
	for _, s := range segs {
		if s.Upload == nil || s.Upload.State == catalog.UploadUploaded || s.Offloaded {
			continue
		}
		if !now.IsZero() && s.Upload.NextAttempt.After(now) {
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// Run uploads until ctx ends; uploads in flight are abandoned at shutdown and retried at the next
// start (same key).
func (u *Uploader) Run(ctx context.Context) error {
	sem := make(chan struct{}, u.cfg.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		segs, err := u.due(time.Now())
		if err != nil {
			u.log.Error("upload queue", "err", err)
		}
		for _, s := range segs {
			u.mu.Lock()
			busy := u.inflight[s.ID]
			if !busy {
				u.inflight[s.ID] = true
			}
			u.mu.Unlock()
			if busy {
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				u.release(s.ID)
				return nil
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				defer u.release(s.ID)
				u.upload(ctx, s)
			}()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-u.wake:
		}
	}
}

func (u *Uploader) release(id string) {
	u.mu.Lock()
	delete(u.inflight, id)
	u.mu.Unlock()
}

func (u *Uploader) upload(ctx context.Context, s catalog.Segment) {
	// The queue was listed before an earlier upload of this segment may have finished.
	fresh, err := u.cat.Get(s.ID)
	if err != nil || fresh.Upload == nil || fresh.Upload.State == catalog.UploadUploaded {
		return
	}
	s = fresh
	start := time.Now()
	etag, sum, size, err := u.put(ctx, s)
	if ctx.Err() != nil {
		return // shutting down: retried at the next start
	}
	if err != nil {
		u.failed(s, err)
		return
	}
	seg, err := u.cat.Update(s.ID, func(c *catalog.Segment) {
		c.Upload.State, c.Upload.UploadedAt, c.Upload.ETag, c.Upload.SHA256 = catalog.UploadUploaded, time.Now().UTC(), etag, sum
		c.Upload.LastError, c.Upload.NextAttempt = "", time.Time{}
	})
	if err != nil {
		u.log.Error("record upload", "id", s.ID, "err", err)
		return
	}
	u.mu.Lock()
	u.stats.Uploaded++
	u.stats.Bytes += uint64(size)
	u.stats.LastSuccess, u.stats.Latency = time.Now(), time.Since(start)
	u.stats.LatencySum += u.stats.Latency
	u.mu.Unlock()
	u.log.Info("segment uploaded", "file", filepath.Base(s.Path), "key", s.Upload.Key, "bytes", size, "took", time.Since(start))
	if u.cfg.DeleteLocal {
		if err := os.Remove(s.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			u.log.Error("remove local copy after upload", "file", s.Path, "err", err)
		} else if seg, err = u.cat.Update(s.ID, func(c *catalog.Segment) { c.Offloaded = true }); err != nil {
			u.log.Error("record offload", "id", s.ID, "err", err)
		}
	}
	if u.events != nil {
		u.events.SegmentUploaded(seg)
	}
}

func (u *Uploader) failed(s catalog.Segment, err error) {
	attempts := s.Upload.Attempts + 1
	backoff := u.cfg.RetryMin << min(attempts-1, 20)
	if backoff > u.cfg.RetryMax || backoff <= 0 {
		backoff = u.cfg.RetryMax
	}
	backoff = backoff/2 + time.Duration(rand.Int64N(int64(backoff/2)+1)) // jitter: 50–100 %
	_, uerr := u.cat.Update(s.ID, func(c *catalog.Segment) {
		c.Upload.State, c.Upload.Attempts, c.Upload.LastError = catalog.UploadFailed, attempts, err.Error()
		c.Upload.NextAttempt = time.Now().Add(backoff)
	})
	u.mu.Lock()
	u.stats.Failures++
	u.stats.LastError, u.stats.LastErrorAt = err.Error(), time.Now()
	u.mu.Unlock()
	u.log.Warn("upload failed; will retry", "file", filepath.Base(s.Path), "attempt", attempts, "retry_in", backoff.Round(time.Millisecond),
		"err", err, "catalog_err", uerr)
}

// put uploads the file and verifies the object: its size and its ETag, which S3 computes as the
// MD5 of the content (single upload) or the MD5 of the parts' MD5s with "-N" (multipart).
func (u *Uploader) put(ctx context.Context, s catalog.Segment) (etag, sum string, size int64, err error) {
	f, err := os.Open(s.Path)
	if err != nil {
		return "", "", 0, fmt.Errorf("open %s: %w", filepath.Base(s.Path), err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", "", 0, err
	}
	size = fi.Size()
	want, sum, err := expectedETag(f, size, u.cfg.PartSize)
	if err != nil {
		return "", "", 0, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", "", 0, err
	}
	ctype := "video/mp4"
	if strings.HasSuffix(s.Path, ".webm") {
		ctype = "video/webm"
	}
	_, err = u.client.PutObject(ctx, u.cfg.Bucket, s.Upload.Key, f, size, minio.PutObjectOptions{
		PartSize: uint64(u.cfg.PartSize), ContentType: ctype, UserMetadata: u.metadata(s, sum),
	})
	if err != nil {
		return "", "", 0, fmt.Errorf("put %s: %w", s.Upload.Key, err)
	}
	info, err := u.client.StatObject(ctx, u.cfg.Bucket, s.Upload.Key, minio.StatObjectOptions{})
	if err != nil {
		return "", "", 0, fmt.Errorf("stat %s: %w", s.Upload.Key, err)
	}
	got := strings.Trim(info.ETag, `"`)
	if info.Size != size || got != want {
		return "", "", 0, fmt.Errorf("%w: %s is %d bytes with ETag %s, want %d bytes and %s", ErrVerify,
			s.Upload.Key, info.Size, got, size, want)
	}
	return got, sum, size, nil
}

// expectedETag reads the file once for its S3 ETag (as minio-go will upload it) and its SHA-256.
func expectedETag(r io.Reader, size, partSize int64) (etag, sum string, err error) {
	sh := sha256.New()
	if size <= partSize {
		m := md5.New() //nolint:gosec // see import
		if _, err := io.Copy(io.MultiWriter(m, sh), r); err != nil {
			return "", "", err
		}
		return hex.EncodeToString(m.Sum(nil)), hex.EncodeToString(sh.Sum(nil)), nil
	}
	all := md5.New() //nolint:gosec // see import
	parts := 0
	for {
		m := md5.New() //nolint:gosec // see import
		n, err := io.CopyN(io.MultiWriter(m, sh), r, partSize)
		if n > 0 {
			all.Write(m.Sum(nil))
			parts++
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", "", err
		}
	}
	return fmt.Sprintf("%s-%d", hex.EncodeToString(all.Sum(nil)), parts), hex.EncodeToString(sh.Sum(nil)), nil
}

// Object is a downloadable object.
type Object interface {
	io.ReadSeekCloser
}

// Open returns the object of an offloaded segment for download, with its size and time.
func (u *Uploader) Open(ctx context.Context, key string) (Object, int64, time.Time, error) {
	obj, err := u.client.GetObject(ctx, u.cfg.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, 0, time.Time{}, fmt.Errorf("get %s: %w", key, err)
	}
	info, err := obj.Stat()
	if err != nil {
		_ = obj.Close()
		return nil, 0, time.Time{}, fmt.Errorf("stat %s: %w", key, err)
	}
	return obj, info.Size, info.LastModified, nil
}
