package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrNotRegular means a path in the recordings directory is a symlink (or anything but a regular
// file): vigil never reads, repairs, lists or serves through one, so a link planted there cannot
// reach a file outside the directory.
var ErrNotRegular = errors.New("not a regular file")

// OpenRegular opens path with flag only if it is a regular file, without following a symlink
// (checked before opening, and again on the opened file where the platform allows O_NOFOLLOW).
func OpenRegular(path string, flag int) (*os.File, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, fi.Mode().Type())
	}
	f, err := os.OpenFile(path, flag|oNoFollow, 0)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, ErrNotRegular)
	}
	return f, nil
}

// IsRegular reports whether the directory entry is a regular file (not a symlink).
func IsRegular(e fs.DirEntry) bool { return e.Type().IsRegular() }
