// Package storage owns the recordings directory: segment files are written under a temporary
// ".part" name and renamed when final, so nothing else ever sees a half-written file; leftover
// ".part" files from a crash are repaired (cut to their last whole fragment or cluster) and renamed
// at start. It knows container layouts only as far as repair needs.
package storage

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PartSuffix marks a file that is still being written.
const PartSuffix = ".part"

// FsyncPolicy says when written data is forced to the disk.
type FsyncPolicy string

// The fsync policies.
const (
	// FsyncNever leaves flushing to the kernel: a power cut may lose the last seconds.
	FsyncNever FsyncPolicy = "never"
	// FsyncClose syncs a segment when it is closed (default).
	FsyncClose FsyncPolicy = "close"
	// FsyncInterval also syncs open segments every Interval.
	FsyncInterval FsyncPolicy = "interval"
)

// PageCache says whether written recordings stay in the kernel's page cache.
type PageCache string

// The page cache policies.
const (
	// PageCacheDrop starts write-back of each file as it grows and drops the written pages
	// (default, Linux): recordings are written once and read rarely, and a cache that grows by
	// every stream's bitrate costs each write more (the kernel takes fresh pages for it) and
	// pushes out what the machine does read.
	PageCacheDrop PageCache = "drop"
	// PageCacheKeep leaves written pages to the kernel, for machines that read recordings back
	// soon after they are written.
	PageCacheKeep PageCache = "keep"
)

// dropStep is how much a file grows between two drops of its written pages: about one 1-s
// fragment of a 2.5 Mbps stream, so the cache holds a few hundred KiB per file.
const dropStep = 256 << 10

// Config of the local store.
type Config struct {
	Dir       string
	Fsync     FsyncPolicy
	Interval  time.Duration
	PageCache PageCache
	// FileMode and DirMode are the permissions of new segments and of the directory when vigil
	// creates it. Default 0640 and 0750: recordings are not for every user of the machine.
	FileMode, DirMode os.FileMode
}

// Store creates segment files in the recordings directory.
type Store struct {
	cfg Config
	dir string // absolute
	log *slog.Logger
}

// New prepares the store; the directory is created if needed.
func New(cfg Config, log *slog.Logger) (*Store, error) {
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("recordings directory %s: %w", cfg.Dir, err)
	}
	if cfg.FileMode == 0 {
		cfg.FileMode = 0o640
	}
	if cfg.DirMode == 0 {
		cfg.DirMode = 0o750
	}
	if err := os.MkdirAll(dir, cfg.DirMode); err != nil {
		return nil, fmt.Errorf("create recordings directory %s: %w", dir, err)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	return &Store{cfg: cfg, dir: dir, log: log}, nil
}

// Dir is the absolute recordings directory.
func (s *Store) Dir() string { return s.dir }

// ErrBadName means a file name would leave the recordings directory.
var ErrBadName = errors.New("file name must be a plain name inside the recordings directory")

// Path returns the absolute path of a plain file name, refusing anything that could point
// outside the directory.
func (s *Store) Path(name string) (string, error) {
	if name == "" || name != filepath.Base(name) || strings.HasPrefix(name, ".") || strings.ContainsAny(name, `/\`) {
		return "", fmt.Errorf("%w: %q", ErrBadName, name)
	}
	return filepath.Join(s.dir, name), nil
}

// Create opens "name.part" exclusively; name must not exist yet either (a suffix is added to
// avoid any overwrite).
func (s *Store) Create(name string) (*File, error) {
	for i := 1; i < 1000; i++ {
		candidate := name
		if i > 1 {
			ext := filepath.Ext(name)
			candidate = strings.TrimSuffix(name, ext) + "_" + strconv.Itoa(i) + ext
		}
		final, err := s.Path(candidate)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(final); err == nil {
			continue
		}
		f, err := os.OpenFile(final+PartSuffix, os.O_RDWR|os.O_CREATE|os.O_EXCL, s.cfg.FileMode)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("create segment %s: %w", candidate, err)
		}
		return &File{store: s, f: f, final: final}, nil
	}
	return nil, fmt.Errorf("create segment %s: too many files with that name", name)
}

// File is a segment being written. Write and Seek come from one goroutine.
type File struct {
	store    *Store
	f        *os.File
	final    string
	mu       sync.Mutex
	lastSync time.Time
	done     bool
	pos      int64 // current offset
	good     int64 // end of the last complete write: the file is whole up to here
	dropped  int64 // good when the written pages were last dropped from the page cache
	vec      vectorWriter
}

// Write implements io.Writer; with the interval policy it syncs when the interval has passed.
// A write that fails (ENOSPC, EIO) is undone: the file is cut back to the end of the last
// complete write, so it still ends at a whole fragment.
func (f *File) Write(b []byte) (int, error) {
	n, err := f.f.Write(b)
	if err != nil {
		return 0, f.undo(err)
	}
	return n, f.wrote(int64(n))
}

// WriteBuffers writes bufs one after the other, with one system call where the platform has one
// (writev): a fragment goes to the file from the buffers its samples were gathered in, with no
// copy into one buffer first. bufs is consumed. A failure undoes the call as Write does.
func (f *File) WriteBuffers(bufs [][]byte) (int64, error) {
	n, err := f.vec.writeBuffers(f.f, bufs)
	if err != nil {
		return 0, f.undo(err)
	}
	return n, f.wrote(n)
}

// undo cuts the file back to the end of the last complete write after a failed one.
func (f *File) undo(err error) error {
	if terr := f.f.Truncate(f.good); terr == nil {
		if _, serr := f.f.Seek(f.good, io.SeekStart); serr == nil {
			f.pos = f.good
		}
	}
	return fmt.Errorf("write %s: %w", filepath.Base(f.final), err)
}

// wrote accounts for n bytes written at the current offset, then applies the page cache and
// fsync policies.
func (f *File) wrote(n int64) error {
	f.pos += n
	f.good = max(f.good, f.pos)
	if f.store.cfg.PageCache != PageCacheKeep && f.good-f.dropped >= dropStep {
		dropWritten(f.f, f.good)
		f.dropped = f.good
	}
	if f.store.cfg.Fsync == FsyncInterval && time.Since(f.lastSync) >= f.store.cfg.Interval {
		f.lastSync = time.Now()
		return f.f.Sync()
	}
	return nil
}

// Seek implements io.Seeker.
func (f *File) Seek(off int64, whence int) (int64, error) {
	p, err := f.f.Seek(off, whence)
	if err == nil {
		f.pos = p
	}
	return p, err
}

// PartPath is where the file is while open.
func (f *File) PartPath() string { return f.final + PartSuffix }

// Commit syncs (unless the policy is never), closes and renames the file to its final name,
// given now because names may carry the end time. It returns the final absolute path.
func (f *File) Commit(name string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return "", errors.New("segment file already closed")
	}
	f.done = true
	var errs []error
	if f.store.cfg.Fsync != FsyncNever {
		errs = append(errs, f.f.Sync())
	}
	if f.store.cfg.PageCache != PageCacheKeep {
		dropWritten(f.f, 0)
	}
	errs = append(errs, f.f.Close())
	final := f.final
	if name != "" {
		if p, err := f.store.Path(name); err == nil {
			final = p
		}
	}
	final = freeName(final)
	if err := os.Rename(f.final+PartSuffix, final); err != nil {
		errs = append(errs, fmt.Errorf("rename segment: %w", err))
		return f.final + PartSuffix, errors.Join(errs...)
	}
	return final, errors.Join(errs...)
}

// Abort closes and removes the file (a segment that never got media).
func (f *File) Abort() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return nil
	}
	f.done = true
	return errors.Join(f.f.Close(), os.Remove(f.final+PartSuffix))
}

// freeName returns path, or path with a numeric suffix if path already exists.
func freeName(path string) string {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return path
	}
	ext := filepath.Ext(path)
	base := strings.TrimSuffix(path, ext)
	for i := 2; ; i++ {
		p := base + "_" + strconv.Itoa(i) + ext
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			return p
		}
	}
}

var _ io.WriteSeeker = (*File)(nil)
