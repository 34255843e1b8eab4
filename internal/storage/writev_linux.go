package storage

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxIovecs is Linux's IOV_MAX: a longer list is written in several calls.
const maxIovecs = 1024

// vectorWriter writes lists of buffers with writev. Its iovec list is reused from call to call,
// so a write allocates nothing (x/sys's Writev makes a new list each time, and os.File's raw
// connection a closure). One goroutine uses it.
type vectorWriter struct{ iov []unix.Iovec }

// writeBuffers writes bufs to f, consuming them; a short write (a signal, a full disk) continues
// where it stopped until everything is written or a call fails.
func (v *vectorWriter) writeBuffers(f *os.File, bufs [][]byte) (int64, error) {
	var total int64
	fd := f.Fd() // a regular file: never in the netpoller, so Fd changes nothing
	defer runtime.KeepAlive(f)
	for bufs = consumed(bufs, 0); len(bufs) > 0; {
		v.iov = v.iov[:0]
		for _, b := range bufs[:min(len(bufs), maxIovecs)] {
			if len(b) > 0 {
				iov := unix.Iovec{Base: &b[0]}
				iov.SetLen(len(b))
				v.iov = append(v.iov, iov)
			}
		}
		n, _, errno := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&v.iov[0])), uintptr(len(v.iov)))
		clear(v.iov) // no reference to the caller's buffers outlives the call
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return total, fmt.Errorf("writev: %w", errno)
		}
		if n == 0 { // nothing written of a buffer that is not empty
			return total, fmt.Errorf("writev: %w", io.ErrShortWrite)
		}
		total += int64(n)
		bufs = consumed(bufs, int(n))
	}
	return total, nil
}

// consumed drops the first n bytes from bufs: whole buffers, then the front of a partly written
// one.
func consumed(bufs [][]byte, n int) [][]byte {
	for len(bufs) > 0 && n >= len(bufs[0]) {
		n -= len(bufs[0])
		bufs[0] = nil
		bufs = bufs[1:]
	}
	if len(bufs) > 0 {
		bufs[0] = bufs[0][n:]
	}
	return bufs
}
