package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/vigilrec/vigil/internal/catalog"
	"github.com/vigilrec/vigil/internal/config"
	"github.com/vigilrec/vigil/internal/diskguard"
	"github.com/vigilrec/vigil/internal/recorder"
	"github.com/vigilrec/vigil/internal/storage"
	"github.com/vigilrec/vigil/internal/upload"
	"github.com/vigilrec/vigil/internal/webhook"
)

// guardConfig turns the disk settings into the guard's, reporting every bad one.
func guardConfig(dir string, c config.DiskConfig) (diskguard.Config, error) {
	var errs []error
	minFree, err := diskguard.ParseThreshold(c.MinFree)
	if err != nil {
		errs = append(errs, fmt.Errorf("disk.min_free: %w", err))
	}
	floor, err := diskguard.ParseThreshold(c.HardFloor)
	if err != nil {
		errs = append(errs, fmt.Errorf("disk.hard_floor: %w", err))
	}
	maxSegment, err := diskguard.ParseSegmentLimit(c.MaxSegment)
	if err != nil {
		errs = append(errs, fmt.Errorf("disk.max_segment: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return diskguard.Config{}, err
	}
	return diskguard.Config{Dir: dir, MinFree: minFree, HardFloor: floor, Policy: diskguard.Policy(c.Policy),
		Interval: c.CheckInterval.D(), MaxAge: c.MaxAge.D(), MaxBytes: int64(c.MaxBytes),
		MaxBytesPerStream: int64(c.MaxBytesPerStream), Headroom: c.Headroom.D(), MaxSegment: maxSegment}, nil
}

// guardCatalog lets the disk guard list and delete finished segments.
type guardCatalog struct {
	cat      *catalog.Catalog
	webhooks *webhook.Dispatcher
}

func (g guardCatalog) Deletable() ([]diskguard.Segment, error) {
	segs, _, err := g.cat.List(catalog.Filter{Limit: 1 << 30, States: []catalog.State{catalog.StateClosed, catalog.StateRecovered}})
	if err != nil {
		return nil, err
	}
	out := make([]diskguard.Segment, 0, len(segs))
	for _, s := range segs {
		if s.Offloaded {
			continue
		}
		out = append(out, diskguard.Segment{ID: s.ID, Stream: s.Stream, Bytes: s.Bytes, Start: s.Start, End: s.End,
			Uploaded: s.Upload != nil && s.Upload.State == catalog.UploadUploaded})
	}
	return out, nil
}

func (g guardCatalog) Delete(id, reason string) error {
	_, err := deleteSegment(g.cat, g.webhooks, id, reason)
	return err
}

// deleteSegment removes a finished segment's local file and records the deletion.
func deleteSegment(cat *catalog.Catalog, webhooks *webhook.Dispatcher, id, reason string) (catalog.Segment, error) {
	s, err := cat.Get(id)
	if err != nil {
		return s, err
	}
	switch {
	case s.State == catalog.StateRecording:
		return s, fmt.Errorf("%w: %s", catalog.ErrBusy, filepath.Base(s.Path))
	case s.State == catalog.StateDeleted:
		return s, fmt.Errorf("%w: %s was deleted", catalog.ErrNotFound, id)
	}
	if err := os.Remove(s.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return s, fmt.Errorf("delete %s: %w", filepath.Base(s.Path), err)
	}
	s, err = cat.Update(id, func(s *catalog.Segment) { s.State, s.DeleteReason = catalog.StateDeleted, reason })
	if err == nil {
		webhooks.Send("segment.deleted", s)
	}
	return s, err
}

// guardRecorder adapts the recorder to the guard.
type guardRecorder struct{ rec *recorder.Manager }

func (g guardRecorder) Pause(reason string) { g.rec.Pause(reason) }
func (g guardRecorder) Resume()             { g.rec.Resume() }
func (g guardRecorder) BytesWritten() (int64, map[string]int64) {
	return g.rec.BytesWritten()
}
func (g guardRecorder) LimitSegments(d time.Duration, b int64) { g.rec.LimitSegments(d, b) }

// diskEvents turns the guard's transitions into webhooks.
type diskEvents struct{ webhooks *webhook.Dispatcher }

func (d diskEvents) DiskLow(s diskguard.Snapshot) { d.webhooks.Send("disk.low", diskJSON(s)) }
func (d diskEvents) DiskOK(s diskguard.Snapshot)  { d.webhooks.Send("disk.ok", diskJSON(s)) }

func diskJSON(s diskguard.Snapshot) map[string]any {
	ttf := any(nil)
	if s.TimeToFull >= 0 {
		ttf = s.TimeToFull.Seconds()
	}
	return map[string]any{"free": s.Free, "total": s.Total, "minFree": s.MinFree, "hardFloor": s.HardFloor,
		"policy": s.Policy, "writeRate": s.WriteRate, "peakWriteRate": s.PeakRate, "timeToFull": ttf, "low": s.Low,
		"paused": s.Paused, "refusingNew": s.RefusingNew, "streamRates": s.StreamRates,
		"maxSegmentSeconds": s.MaxSegmentDuration.Seconds(), "maxSegmentBytes": s.MaxSegmentBytes,
		"checked": s.Checked, "error": s.LastError}
}

// uploadEvents turns uploads into webhooks.
type uploadEvents struct{ webhooks *webhook.Dispatcher }

func (u uploadEvents) SegmentUploaded(s catalog.Segment) { u.webhooks.Send("segment.uploaded", s) }

// refuseWhenLow makes the guard's refusal a recorder refusal (507 at the API).
func refuseWhenLow(g *diskguard.Guard) func(string) error {
	return func(stream string) error {
		if err := g.Allow(stream); err != nil {
			return fmt.Errorf("%w: %w", recorder.ErrRefused, err)
		}
		return nil
	}
}

// enqueueUnuploaded puts every finished segment that never entered the queue into it (recovered
// files, files recorded before offload was configured).
func enqueueUnuploaded(cat *catalog.Catalog, up *upload.Uploader) error {
	segs, _, err := cat.List(catalog.Filter{Limit: 1 << 30, States: []catalog.State{catalog.StateClosed, catalog.StateRecovered}})
	if err != nil {
		return err
	}
	for _, s := range segs {
		if s.Upload == nil && !s.Offloaded {
			if err := up.Enqueue(s.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// content is a segment to download: the local file, or the object of an offloaded one.
type content struct {
	io.ReadSeekCloser
	Name      string
	Container string
	ModTime   time.Time
}

// openSegment opens a segment's bytes wherever they are.
func openSegment(ctx context.Context, cat *catalog.Catalog, up *upload.Uploader, id string) (*content, error) {
	s, err := cat.Get(id)
	if err == nil && s.State == catalog.StateDeleted {
		err = fmt.Errorf("%w: %s was deleted", catalog.ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	c := &content{Name: filepath.Base(s.Path), Container: s.Container}
	if s.Offloaded && s.Upload != nil && up != nil {
		obj, _, mod, err := up.Open(ctx, s.Upload.Key)
		if err != nil {
			return nil, err
		}
		c.ReadSeekCloser, c.ModTime = obj, mod
		return c, nil
	}
	f, err := storage.OpenRegular(s.Path, os.O_RDONLY)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, storage.ErrNotRegular) {
			err = fmt.Errorf("%w: file of %s is gone", catalog.ErrNotFound, id)
		}
		return nil, err
	}
	if fi, err := f.Stat(); err == nil {
		c.ModTime = fi.ModTime()
	}
	c.ReadSeekCloser = f
	return c, nil
}

// storageStatus reports the disk, retention, offload and webhook state for /api/v1/storage.
type storageStatus struct{ a *App }

func (s storageStatus) StorageHistory() []diskguard.Sample { return s.a.guard.History() }

func (s storageStatus) StorageStatus() map[string]any {
	g := s.a.guard.Snapshot()
	cfg := s.a.cfg.Disk
	out := map[string]any{
		"disk": diskJSON(g),
		"retention": map[string]any{
			"maxAge": cfg.MaxAge.D().Seconds(), "maxBytes": int64(cfg.MaxBytes), "maxBytesPerStream": int64(cfg.MaxBytesPerStream),
			"deletions": g.Deletions, "deletedBytes": g.DeletedBytes, "deletionsByReason": g.DeletionsByReason,
		},
		"uploads": map[string]any{"enabled": false},
	}
	if s.a.up != nil {
		u := s.a.up.Stats()
		up := map[string]any{"enabled": true, "queue": u.Queue, "inFlight": u.InFlight, "uploaded": u.Uploaded,
			"bytes": u.Bytes, "failures": u.Failures, "lastError": u.LastError, "latency": u.Latency.Seconds()}
		if !u.LastErrorAt.IsZero() {
			up["lastErrorAt"] = u.LastErrorAt.UTC()
		}
		if !u.LastSuccess.IsZero() {
			up["lastSuccessAt"] = u.LastSuccess.UTC()
		}
		out["uploads"] = up
	}
	w := s.a.events.Stats()
	out["webhooks"] = map[string]any{"delivered": w.Delivered, "failures": w.Failures, "dropped": w.Dropped, "queue": w.Queue}
	var failures []map[string]any
	for _, r := range s.a.rec.Active() {
		if r.Error != "" {
			failures = append(failures, map[string]any{"recording": r.ID, "stream": r.Stream, "state": r.State, "error": r.Error})
		}
	}
	out["failures"] = failures
	return out
}

// eventStore keeps undelivered webhook events in the catalog database.
type eventStore struct{ cat *catalog.Catalog }

func (e eventStore) Put(url string, ev []byte) (string, error) { return e.cat.PutEvent(url, ev) }
func (e eventStore) Delete(key string) error                   { return e.cat.DeleteEvent(key) }
func (e eventStore) Pending(url string) ([]string, [][]byte, error) {
	return e.cat.PendingEvents(url)
}
