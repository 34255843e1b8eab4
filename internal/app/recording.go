package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigilrec/vigil/internal/api"
	"github.com/vigilrec/vigil/internal/catalog"
	"github.com/vigilrec/vigil/internal/hook"
	"github.com/vigilrec/vigil/internal/recorder"
	"github.com/vigilrec/vigil/internal/storage"
	"github.com/vigilrec/vigil/internal/upload"
	"github.com/vigilrec/vigil/internal/webhook"
)

// sink gives the recorder storage's files.
type sink struct{ store *storage.Store }

func (s sink) Create(name string) (recorder.File, error) {
	f, err := s.store.Create(name)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// segmentEvents records segments in the catalog, queues them for upload, runs the hook for
// finished files and sends the webhooks.
type segmentEvents struct {
	cat      *catalog.Catalog
	hooks    *hook.Runner
	up       *upload.Uploader // nil without S3
	webhooks *webhook.Dispatcher
	log      *slog.Logger
}

func (e segmentEvents) RecordingStarted(s recorder.Status) { e.webhooks.Send("recording.started", s) }

func (e segmentEvents) RecordingStopped(s recorder.Status) {
	if s.State == recorder.StateFailed {
		e.webhooks.Send("recording.failed", s)
		return
	}
	e.webhooks.Send("recording.stopped", s)
}

func (e segmentEvents) SegmentOpened(info recorder.SegmentInfo) {
	_, err := e.cat.Insert(catalog.Segment{
		RecordingID: info.RecordingID, Stream: info.Stream, MediaSessionID: info.MediaSessionID, Index: info.Index,
		Path: info.Path, Container: string(info.Container), VideoCodec: info.VideoCodec, AudioCodec: info.AudioCodec,
		Start: info.Start.UTC(), State: catalog.StateRecording,
	})
	if err != nil {
		e.log.Error("catalog: add segment", "file", info.Path, "err", err)
	}
}

func (e segmentEvents) SegmentClosed(info recorder.SegmentInfo) {
	seg, err := e.cat.UpdateByRecording(info.RecordingID, info.Index, func(s *catalog.Segment) {
		if info.Path == "" { // no media: the file was removed
			s.State, s.Error = catalog.StateDeleted, "segment got no media"
			return
		}
		s.Path, s.End, s.Bytes = info.Path, info.End.UTC(), info.Bytes
		s.Duration = info.Duration.Seconds()
		s.State = catalog.StateClosed
		if info.Err != nil {
			s.Error = info.Err.Error()
		}
	})
	if err != nil {
		e.log.Error("catalog: close segment", "file", info.Path, "err", err)
	}
	if info.Path != "" {
		e.hooks.Enqueue(info.Stream, info.Path)
		e.webhooks.Send("segment.closed", seg)
		if e.up != nil && err == nil {
			if err := e.up.Enqueue(seg.ID); err != nil {
				e.log.Error("queue segment for upload", "file", info.Path, "err", err)
			}
		}
	}
}

// recoverSegments repairs what a crash left and marks it recovered in the catalog (adding files
// the catalog did not know).
func recoverSegments(store *storage.Store, cat *catalog.Catalog, log *slog.Logger) {
	recovered, err := store.Recover()
	if err != nil {
		log.Error("some unfinished segments could not be repaired", "err", err)
	}
	for _, r := range recovered {
		_, err := cat.UpdateByPath(r.Path+storage.PartSuffix, func(s *catalog.Segment) {
			s.Path, s.Bytes, s.State = r.Path, r.Bytes, catalog.StateRecovered
			s.Duration = r.Duration.Seconds()
			s.End = s.Start.Add(r.Duration)
		})
		if errors.Is(err, catalog.ErrNotFound) {
			_, err = cat.Insert(segmentFromFile(r.Path, r.Bytes, r.Duration, catalog.StateRecovered))
		}
		if err != nil {
			log.Error("catalog: record recovered segment", "file", r.Path, "err", err)
		}
	}
}

// rebuildCatalog adds the finished files in the directory that the catalog does not know (a
// lost or new catalog), and marks entries whose files are gone as deleted.
func rebuildCatalog(store *storage.Store, cat *catalog.Catalog, log *slog.Logger) error {
	known := map[string]bool{}
	all, _, err := cat.List(catalog.Filter{Limit: 1 << 30, States: []catalog.State{
		catalog.StateRecording, catalog.StateClosed, catalog.StateRecovered}})
	if err != nil {
		return err
	}
	for _, s := range all {
		known[s.Path] = true
		if _, err := os.Stat(s.Path); errors.Is(err, os.ErrNotExist) {
			if _, err := cat.Update(s.ID, func(s *catalog.Segment) {
				s.State, s.Error = catalog.StateDeleted, "file missing at start"
			}); err != nil {
				return err
			}
		}
	}
	entries, err := os.ReadDir(store.Dir())
	if err != nil {
		return fmt.Errorf("list recordings: %w", err)
	}
	added := 0
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		path := filepath.Join(store.Dir(), e.Name())
		if (ext != ".mp4" && ext != ".webm") || known[path] {
			continue
		}
		if !storage.IsRegular(e) {
			log.Warn("catalog: ignoring a recording-like entry that is not a regular file (a symlink?)", "file", e.Name())
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		if _, err := cat.Insert(segmentFromFile(path, fi.Size(), storage.Duration(path), catalog.StateClosed)); err != nil {
			return err
		}
		added++
	}
	if added > 0 {
		log.Info("catalog: added files found on disk", "files", added)
	}
	return nil
}

// segmentFromFile describes a file known only from disk. With the default template the stream
// name is what precedes the first "_".
func segmentFromFile(path string, size int64, dur time.Duration, state catalog.State) catalog.Segment {
	base := filepath.Base(path)
	ext := filepath.Ext(base)
	stream, _, _ := strings.Cut(strings.TrimSuffix(base, ext), "_")
	end := time.Now().UTC()
	if fi, err := os.Stat(path); err == nil {
		end = fi.ModTime().UTC()
	}
	return catalog.Segment{Stream: stream, Path: path, Container: strings.TrimPrefix(ext, "."), Bytes: size,
		Duration: dur.Seconds(), Start: end.Add(-dur), End: end, State: state}
}

// recordings serves the catalog to the API: listing, downloads and deletion.
type recordings struct {
	cat      *catalog.Catalog
	up       *upload.Uploader
	webhooks *webhook.Dispatcher
}

func (r recordings) List(f catalog.Filter) ([]catalog.Segment, int, error) { return r.cat.List(f) }

// Get is a segment of the catalog or, failing that, of the bucket (a segment another node of
// the cluster, even one that is gone, recorded and offloaded).
func (r recordings) Get(id string) (catalog.Segment, error) {
	seg, err := r.cat.Get(id)
	if errors.Is(err, catalog.ErrNotFound) && r.up != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if a, aerr := r.archived(ctx, id); aerr == nil {
			return a.Segment, nil
		}
	}
	return seg, err
}

// OpenArchived opens an object of the bucket.
func (r recordings) OpenArchived(ctx context.Context, key string) (io.ReadSeekCloser, error) {
	if r.up == nil {
		return nil, api.ErrNoArchive
	}
	obj, _, _, err := r.up.Open(ctx, key)
	return obj, err
}

// archived finds segment id in the bucket. It asks every object (see Uploader.Archive): meant
// for the occasional segment of another node, not for bulk reading.
func (r recordings) archived(ctx context.Context, id string) (upload.Archived, error) {
	list, err := r.up.Archive(ctx, "")
	if err != nil {
		return upload.Archived{}, err
	}
	for _, a := range list {
		if a.ID == id {
			return a, nil
		}
	}
	return upload.Archived{}, fmt.Errorf("segment %s: %w", id, catalog.ErrNotFound)
}

// Archive lists the bucket: every node's offloaded segments.
func (r recordings) Archive(ctx context.Context, stream string) ([]upload.Archived, error) {
	if r.up == nil {
		return nil, api.ErrNoArchive
	}
	return r.up.Archive(ctx, stream)
}

// Open returns a segment's bytes, from the local file or, once offloaded, from S3.
func (r recordings) Open(ctx context.Context, id string) (io.ReadSeekCloser, string, string, time.Time, error) {
	c, err := openSegment(ctx, r.cat, r.up, id)
	if errors.Is(err, catalog.ErrNotFound) && r.up != nil {
		a, aerr := r.archived(ctx, id)
		if aerr != nil {
			return nil, "", "", time.Time{}, err
		}
		obj, _, mod, oerr := r.up.Open(ctx, a.Key)
		if oerr != nil {
			return nil, "", "", time.Time{}, oerr
		}
		return obj, a.Path, a.Container, mod, nil
	}
	if err != nil {
		return nil, "", "", time.Time{}, err
	}
	return c.ReadSeekCloser, c.Name, c.Container, c.ModTime, nil
}

// Delete removes the file and keeps the entry, marked deleted, so the catalog records it.
func (r recordings) Delete(id string) (catalog.Segment, error) {
	return deleteSegment(r.cat, r.webhooks, id, "api")
}
