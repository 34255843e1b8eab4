package rtc

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxBatch is the most datagrams one recvmmsg call takes.
const maxBatch = 64

// mmsghdr is struct mmsghdr of recvmmsg(2); Go pads it to the kernel's layout on every arch.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// batchReader reads many datagrams per system call with recvmmsg(2). Its buffers are set up
// once; a read allocates nothing.
type batchReader struct {
	rc        syscall.RawConn
	msgs      [maxBatch]mmsghdr
	iovs      [maxBatch]unix.Iovec
	names     [maxBatch]syscall.RawSockaddrAny
	truncated *atomic.Uint64
}

func newBatchReader(conn *net.UDPConn, truncated *atomic.Uint64) *batchReader {
	r := &batchReader{truncated: truncated}
	rc, err := conn.SyscallConn()
	if err == nil {
		r.rc = rc
	}
	return r
}

// read fills up to free slots starting at start with the datagrams queued on the socket,
// waiting (in the netpoller, without a thread) until there is at least one.
func (r *batchReader) read(slots []batchDatagram, start, free int) (int, error) {
	if r.rc == nil {
		return 0, fmt.Errorf("media socket: %w", net.ErrClosed)
	}
	for i := range free {
		d := &slots[start+i]
		r.iovs[i] = unix.Iovec{Base: &d.buf[0]}
		r.iovs[i].SetLen(len(d.buf))
		r.msgs[i] = mmsghdr{}
		r.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		r.msgs[i].hdr.Namelen = uint32(unsafe.Sizeof(r.names[i]))
		r.msgs[i].hdr.Iov = &r.iovs[i]
		r.msgs[i].hdr.SetIovlen(1)
	}
	var got int
	var errno syscall.Errno
	err := r.rc.Read(func(fd uintptr) bool {
		n, _, e := syscall.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.msgs[0])), uintptr(free),
			syscall.MSG_DONTWAIT, 0, 0)
		if e == syscall.EAGAIN || e == syscall.EINTR {
			return false // wait until readable
		}
		got, errno = int(n), e
		return true
	})
	if err != nil {
		return 0, fmt.Errorf("read media socket: %w", err)
	}
	if errno != 0 {
		return 0, fmt.Errorf("recvmmsg: %w", errno)
	}
	for i := range got {
		d := &slots[start+i]
		d.n, d.addr = int(r.msgs[i].len), sockaddrToAddrPort(&r.names[i])
		if r.msgs[i].hdr.Flags&syscall.MSG_TRUNC != 0 || !d.addr.IsValid() {
			r.truncated.Add(1)
			d.n = 0 // skipped by the reader
		}
	}
	return got, nil
}

func sockaddrToAddrPort(sa *syscall.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case syscall.AF_INET:
		in := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&in.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(in.Addr), port)
	case syscall.AF_INET6:
		in := (*syscall.RawSockaddrInet6)(unsafe.Pointer(sa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&in.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom16(in.Addr), port)
	}
	return netip.AddrPort{}
}
