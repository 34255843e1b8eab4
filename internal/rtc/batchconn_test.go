package rtc

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func newLoopbackBatchConn(t *testing.T, interval time.Duration, ring int) (*batchConn, *net.UDPConn) {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	// Room for every datagram a test sends at once: loopback drops too when the buffer is full.
	rc, err := conn.SyscallConn()
	require.NoError(t, err)
	_, _ = setReceiveBuffer(rc, 4<<20)
	bc := newBatchConn(conn, interval, ring, nil)
	t.Cleanup(func() { _ = bc.Close() })
	peer, err := net.DialUDP("udp4", nil, conn.LocalAddr().(*net.UDPAddr))
	require.NoError(t, err)
	t.Cleanup(func() { _ = peer.Close() })
	return bc, peer
}

// Datagrams come out whole, in order and with their sender, whatever the batch and ring sizes;
// a datagram too long to be media is skipped, not cut.
func TestBatchConnDeliversEveryDatagramInOrder(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval time.Duration
		ring     int
	}{
		{"immediate, roomy ring", 0, 512},
		{"10ms pauses", 10 * time.Millisecond, 512},
		{"ring smaller than a burst", 5 * time.Millisecond, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bc, peer := newLoopbackBatchConn(t, tc.interval, tc.ring)
			const count = 300
			go func() {
				for i := range count {
					if i == 100 {
						_, _ = peer.Write(make([]byte, batchSlot+100))
					}
					_, _ = peer.Write(bytes.Repeat([]byte{byte(i)}, 100+i))
				}
			}()
			want := peer.LocalAddr().(*net.UDPAddr).AddrPort()
			want = netip.AddrPortFrom(want.Addr().Unmap(), want.Port())
			got := make(chan error, 1)
			go func() {
				buf := make([]byte, 1500)
				for i := range count {
					n, from, err := bc.ReadFromAddrPort(buf)
					switch {
					case err != nil:
						got <- err
						return
					case !bytes.Equal(buf[:n], bytes.Repeat([]byte{byte(i)}, 100+i)):
						got <- fmt.Errorf("datagram %d: %d bytes, want %d", i, n, 100+i)
						return
					case from != want:
						got <- fmt.Errorf("datagram %d from %s, want %s", i, from, want)
						return
					}
				}
				got <- nil
			}()
			select {
			case err := <-got:
				require.NoError(t, err)
			case <-time.After(20 * time.Second):
				_ = bc.Close()
				t.Fatalf("datagrams missing after 20s: %+v", bc.stats())
			}
			st := bc.stats()
			require.Equal(t, uint64(count+1), st.Datagrams)
			require.Equal(t, uint64(1), st.Truncated)
			require.LessOrEqual(t, st.Batches, st.Datagrams)
		})
	}
}

// Close ends a blocked read and the reading goroutine (goleak checks the latter).
func TestBatchConnCloseUnblocksReaders(t *testing.T) {
	bc, _ := newLoopbackBatchConn(t, time.Millisecond, 16)
	errc := make(chan error, 1)
	go func() {
		_, _, err := bc.ReadFrom(make([]byte, 1500))
		errc <- err
	}()
	require.NoError(t, bc.Close())
	select {
	case err := <-errc:
		require.ErrorIs(t, err, net.ErrClosed)
	case <-time.After(10 * time.Second):
		t.Fatal("read still blocked after Close")
	}
	require.NoError(t, bc.Close(), "Close is idempotent")
}

// Writes go straight to the socket.
func TestBatchConnWrites(t *testing.T) {
	bc, peer := newLoopbackBatchConn(t, 0, 16)
	to := peer.LocalAddr().(*net.UDPAddr)
	_, err := bc.WriteTo([]byte("to"), to)
	require.NoError(t, err)
	_, err = bc.WriteToAddrPort([]byte("addrport"), to.AddrPort())
	require.NoError(t, err)
	require.NoError(t, peer.SetReadDeadline(time.Now().Add(10*time.Second)))
	buf := make([]byte, 100)
	n, err := peer.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "to", string(buf[:n]))
	n, err = peer.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "addrport", string(buf[:n]))
}
