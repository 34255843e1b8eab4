package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat. It is 100 on every Linux
// architecture Go supports (sysconf(_SC_CLK_TCK) without cgo is not available).
const clockTicks = 100

// errProcFormat means a /proc file did not have the expected shape.
var errProcFormat = errors.New("unexpected /proc format")

// errProcGone means the process has exited (a zombie not yet reaped counts as gone).
var errProcGone = errors.New("process has exited")

// procStat is one reading of a process from /proc.
type procStat struct {
	// CPUSeconds is user plus system time since the process started.
	CPUSeconds float64
	// RSS and PeakRSS are VmRSS and VmHWM in bytes.
	RSS, PeakRSS uint64
	Threads      int
	// WriteBytes is what the process caused to be written to storage (block devices; 0 on tmpfs),
	// WChar the bytes it passed to write calls of any kind, Syscw the number of those calls.
	WriteBytes, WChar, Syscw uint64
	// UDPDrops is the kernel's drop counter summed over the process's UDP sockets.
	UDPDrops uint64
}

// readProc reads pid's figures under root (normally "/proc").
func readProc(root string, pid int) (procStat, error) {
	dir := filepath.Join(root, strconv.Itoa(pid))
	var st procStat
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return st, fmt.Errorf("read process %d: %w", pid, err)
	}
	if st.CPUSeconds, err = parseStat(b); err != nil {
		return st, fmt.Errorf("process %d: %w", pid, err)
	}
	if b, err = os.ReadFile(filepath.Join(dir, "status")); err != nil {
		return st, fmt.Errorf("read process %d: %w", pid, err)
	}
	st.RSS, st.PeakRSS, st.Threads = parseStatus(b)
	if b, err = os.ReadFile(filepath.Join(dir, "io")); err == nil { // needs the same user or root
		st.WriteBytes, st.WChar, st.Syscw = parseIO(b)
	}
	st.UDPDrops = udpDrops(dir)
	return st, nil
}

// parseStat returns utime+stime in seconds from /proc/PID/stat. The command name (field 2) may
// hold spaces and parentheses, so fields are counted from the last ')'.
func parseStat(b []byte) (float64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%w: stat without a command name", errProcFormat)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("%w: stat has %d fields", errProcFormat, len(f)+2)
	}
	if f[0] == "Z" || f[0] == "X" {
		return 0, errProcGone
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("%w: stat times: %w", errProcFormat, err)
	}
	return float64(utime+stime) / clockTicks, nil
}

// parseStatus reads VmRSS, VmHWM (in bytes) and Threads from /proc/PID/status.
func parseStatus(b []byte) (rss, hwm uint64, threads int) {
	for line := range strings.Lines(string(b)) {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(val)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseUint(f[0], 10, 64)
		switch key {
		case "VmRSS":
			rss = n * 1024
		case "VmHWM":
			hwm = n * 1024
		case "Threads":
			threads = int(n)
		}
	}
	return rss, hwm, threads
}

// parseIO reads write_bytes, wchar and syscw from /proc/PID/io.
func parseIO(b []byte) (writeBytes, wchar, syscw uint64) {
	for line := range strings.Lines(string(b)) {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseUint(strings.TrimSpace(val), 10, 64)
		switch key {
		case "write_bytes":
			writeBytes = n
		case "wchar":
			wchar = n
		case "syscw":
			syscw = n
		}
	}
	return writeBytes, wchar, syscw
}

// udpDrops sums the drops column of the process's UDP sockets: it finds the socket inodes among
// the open files of the process dir, then their lines in its network namespace's udp tables.
func udpDrops(dir string) uint64 {
	fds, err := os.ReadDir(filepath.Join(dir, "fd"))
	if err != nil {
		return 0
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join(dir, "fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}
	var total uint64
	for _, table := range []string{"udp", "udp6"} {
		if b, err := os.ReadFile(filepath.Join(dir, "net", table)); err == nil {
			total += parseUDPDrops(b, inodes)
		}
	}
	return total
}

// parseUDPDrops sums the last column (drops) of the /proc/net/udp lines whose inode (column 10)
// is in inodes.
func parseUDPDrops(b []byte, inodes map[string]bool) uint64 {
	var total uint64
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 13 || !inodes[f[9]] {
			continue
		}
		if n, err := strconv.ParseUint(f[len(f)-1], 10, 64); err == nil {
			total += n
		}
	}
	return total
}
