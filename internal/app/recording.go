package app

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigilrec/vigil/internal/catalog"
	"github.com/vigilrec/vigil/internal/hook"
	"github.com/vigilrec/vigil/internal/recorder"
	"github.com/vigilrec/vigil/internal/storage"
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

// segmentEvents records segments in the catalog and runs the hook for finished files.
type segmentEvents struct {
	cat   *catalog.Catalog
	hooks *hook.Runner
	log   *slog.Logger
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
	_, err := e.cat.UpdateByRecording(info.RecordingID, info.Index, func(s *catalog.Segment) {
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
		e.log.Info("segment closed", "stream", info.Stream, "file", filepath.Base(info.Path),
			"bytes", info.Bytes, "duration", info.Duration.Round(time.Millisecond))
		e.hooks.Enqueue(info.Stream, info.Path)
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
		if e.IsDir() || (ext != ".mp4" && ext != ".webm") || known[path] {
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

// recordings serves the catalog to the API: listing, download lookups and deletion.
type recordings struct {
	store *storage.Store
	cat   *catalog.Catalog
}

func (r recordings) List(f catalog.Filter) ([]catalog.Segment, int, error) { return r.cat.List(f) }

func (r recordings) Get(id string) (catalog.Segment, error) { return r.cat.Get(id) }

// Delete removes the file and keeps the entry, marked deleted, so the catalog records it.
func (r recordings) Delete(id string) (catalog.Segment, error) {
	s, err := r.cat.Get(id)
	if err != nil {
		return s, err
	}
	switch s.State {
	case catalog.StateRecording:
		return s, fmt.Errorf("%w: %s", catalog.ErrBusy, filepath.Base(s.Path))
	case catalog.StateDeleted:
		return s, fmt.Errorf("%w: %s was deleted", catalog.ErrNotFound, id)
	}
	if err := os.Remove(s.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return s, fmt.Errorf("delete %s: %w", filepath.Base(s.Path), err)
	}
	return r.cat.Update(id, func(s *catalog.Segment) { s.State = catalog.StateDeleted })
}
