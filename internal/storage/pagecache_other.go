//go:build !linux

package storage

import "os"

// dropWritten is Linux only; elsewhere the page cache keeps what was written.
func dropWritten(*os.File, int64) {}
