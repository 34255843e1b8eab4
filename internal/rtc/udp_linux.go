package rtc

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// setReceiveBuffer asks for size bytes of socket receive buffer: SO_RCVBUFFORCE first, which
// root (CAP_NET_ADMIN) may set past net.core.rmem_max, then SO_RCVBUF, which the kernel caps.
// It returns the size the kernel granted (the kernel doubles what is set for its own
// bookkeeping; the figure returned is halved back so it compares with size).
func setReceiveBuffer(rc syscall.RawConn, size int) (int, error) {
	var got int
	var sockErr error
	err := rc.Control(func(fd uintptr) {
		if e := syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, size); e != nil {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, size)
		}
		got, sockErr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	})
	if err != nil {
		return 0, fmt.Errorf("control udp socket: %w", err)
	}
	if sockErr != nil {
		return 0, fmt.Errorf("read SO_RCVBUF: %w", sockErr)
	}
	return got / 2, nil
}

// udpDrops sums the kernel's receive drop counters (the last column of /proc/net/udp and udp6)
// of the sockets bound to port.
func udpDrops(port int) (uint64, error) {
	var total uint64
	var firstErr error
	for _, path := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		n, err := udpDropsIn(path, port)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		total += n
	}
	return total, firstErr
}

func udpDropsIn(path string, port int) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	suffix := fmt.Sprintf(":%04X", port)
	var total uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 13 || !strings.HasSuffix(fields[1], suffix) {
			continue
		}
		if n, err := strconv.ParseUint(fields[len(fields)-1], 10, 64); err == nil {
			total += n
		}
	}
	if err := sc.Err(); err != nil {
		return total, fmt.Errorf("read %s: %w", path, err)
	}
	return total, nil
}
