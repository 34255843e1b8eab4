package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const (
	testStat   = "4242 (vigil (serve) x) S 1 4242 4242 0 -1 4194560 9000 0 0 0 1234 567 0 0 20 0 11 0 100 2000000 5000 18446744073709551615\n"
	testStatus = "Name:\tvigil\nState:\tS (sleeping)\nVmHWM:\t   81920 kB\nVmRSS:\t   65536 kB\nThreads:\t11\n"
	testIO     = "rchar: 100\nwchar: 5000000\nsyscr: 10\nsyscw: 321\nread_bytes: 0\nwrite_bytes: 4096000\ncancelled_write_bytes: 0\n"
	testUDP    = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
 1201: 0100007F:2005 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 777 2 0000000000000000 17
 1202: 0100007F:2006 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 888 2 0000000000000000 5
 1203: 0100007F:2007 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 999 2 0000000000000000 1000
`
)

func TestParseProcFiles(t *testing.T) {
	cpu, err := parseStat([]byte(testStat))
	require.NoError(t, err)
	require.InDelta(t, 18.01, cpu, 1e-9, "utime 1234 + stime 567 ticks, a command name with spaces and parentheses")
	_, err = parseStat([]byte(strings.Replace(testStat, ") S ", ") Z ", 1)))
	require.ErrorIs(t, err, errProcGone, "a zombie")
	_, err = parseStat([]byte("4242 vigil S 1"))
	require.ErrorIs(t, err, errProcFormat)
	_, err = parseStat([]byte("4242 (vigil) S 1 2 3"))
	require.ErrorIs(t, err, errProcFormat)

	rss, hwm, threads := parseStatus([]byte(testStatus))
	require.Equal(t, uint64(65536*1024), rss)
	require.Equal(t, uint64(81920*1024), hwm)
	require.Equal(t, 11, threads)

	wb, wchar, syscw := parseIO([]byte(testIO))
	require.Equal(t, []uint64{4096000, 5000000, 321}, []uint64{wb, wchar, syscw})

	require.Equal(t, uint64(22), parseUDPDrops([]byte(testUDP), map[string]bool{"777": true, "888": true}))
	require.Zero(t, parseUDPDrops([]byte(testUDP), nil))
}

// A fake /proc tree: readProc puts the files together, finding the process's UDP sockets among
// its open files.
func TestReadProcTree(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "4242")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "fd"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "net"), 0o755))
	for name, body := range map[string]string{"stat": testStat, "status": testStatus, "io": testIO, "net/udp": testUDP} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	require.NoError(t, os.Symlink("socket:[999]", filepath.Join(dir, "fd", "7")))
	require.NoError(t, os.Symlink("/dev/null", filepath.Join(dir, "fd", "0")))
	st, err := readProc(root, 4242)
	require.NoError(t, err)
	require.Equal(t, procStat{CPUSeconds: 18.01, RSS: 65536 * 1024, PeakRSS: 81920 * 1024, Threads: 11,
		WriteBytes: 4096000, WChar: 5000000, Syscw: 321, UDPDrops: 1000}, st)

	_, err = readProc(root, 1)
	require.Error(t, err)
}

// The real /proc of this test process.
func TestReadProcSelf(t *testing.T) {
	st, err := readProc("/proc", os.Getpid())
	require.NoError(t, err)
	require.Positive(t, st.RSS)
	require.GreaterOrEqual(t, st.PeakRSS, st.RSS)
	require.Positive(t, st.Threads)
}
