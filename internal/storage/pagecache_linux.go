package storage

import (
	"os"

	"golang.org/x/sys/unix"
)

// dropWritten asks the kernel to start writing back f's dirty pages below end and to drop the
// clean ones from the page cache. Pages still dirty or under write-back stay; a later call
// drops them. end 0 means the whole file. Advice only: an error changes nothing
// that was written, so it is not reported.
func dropWritten(f *os.File, end int64) {
	_ = unix.Fadvise(int(f.Fd()), 0, end, unix.FADV_DONTNEED)
}
