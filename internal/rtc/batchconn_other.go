//go:build !linux

package rtc

import (
	"fmt"
	"net"
	"sync/atomic"
)

// maxBatch is 1 where recvmmsg is not available: each read takes one datagram.
const maxBatch = 1

type batchReader struct{ conn *net.UDPConn }

func newBatchReader(conn *net.UDPConn, _ *atomic.Uint64) *batchReader {
	return &batchReader{conn: conn}
}

func (r *batchReader) read(slots []batchDatagram, start, _ int) (int, error) {
	d := &slots[start]
	n, addr, err := r.conn.ReadFromUDPAddrPort(d.buf[:])
	if err != nil {
		return 0, fmt.Errorf("read media socket: %w", err)
	}
	d.n, d.addr = n, addr
	return 1, nil
}
