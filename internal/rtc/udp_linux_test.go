package rtc

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUDPDropsParsesProcNetUDP(t *testing.T) {
	// Two sockets on port 8189 (0x1FFD), one on another port.
	table := `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  1: 00000000:1FFD 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 12345 2 0000000000000000 17
  2: 0100007F:1FFD 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 12346 2 0000000000000000 3
  3: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 12347 2 0000000000000000 99
`
	path := filepath.Join(t.TempDir(), "udp")
	require.NoError(t, os.WriteFile(path, []byte(table), 0o600))
	n, err := udpDropsIn(path, 8189)
	require.NoError(t, err)
	require.EqualValues(t, 20, n)
	n, err = udpDropsIn(path, 9999)
	require.NoError(t, err)
	require.Zero(t, n)
	_, err = udpDropsIn(filepath.Join(t.TempDir(), "missing"), 8189)
	require.Error(t, err)
}
