package storage

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// maxIovecs is Linux's IOV_MAX: a longer list is written in several calls.
const maxIovecs = 1024

// writeBuffers writes bufs with writev, consuming them; a short write (a signal, a full disk)
// continues where it stopped until everything is written or a call fails.
func writeBuffers(f *os.File, bufs [][]byte) (int64, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("writev: %w", err)
	}
	var total int64
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		for bufs = consumed(bufs, 0); len(bufs) > 0; {
			n, err := unix.Writev(int(fd), bufs[:min(len(bufs), maxIovecs)])
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				werr = err
				return true
			}
			if n == 0 { // nothing written of a buffer that is not empty
				werr = io.ErrShortWrite
				return true
			}
			total += int64(n)
			bufs = consumed(bufs, n)
		}
		return true
	})
	return total, errors.Join(err, werr)
}
