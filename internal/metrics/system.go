package metrics

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"time"
)

// meminfo is the system memory, in bytes.
type meminfo struct{ free, total uint64 }

// readMeminfo reads /proc/meminfo (Linux). Free is MemAvailable, what can be used without
// swapping (page cache included: a recording server fills it), or MemFree on old kernels.
func readMeminfo() (meminfo, error) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return meminfo{}, fmt.Errorf("read meminfo: %w", err)
	}
	return parseMeminfo(data)
}

func parseMeminfo(data []byte) (meminfo, error) {
	var m meminfo
	var free, available uint64
	var haveAvailable bool
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := bytes.Fields(sc.Bytes())
		if len(fields) < 2 {
			continue
		}
		v, err := strconv.ParseUint(string(fields[1]), 10, 64)
		if err != nil {
			continue
		}
		if len(fields) > 2 && string(fields[2]) == "kB" {
			v *= 1024
		}
		switch string(fields[0]) {
		case "MemTotal:":
			m.total = v
		case "MemFree:":
			free = v
		case "MemAvailable:":
			available, haveAvailable = v, true
		}
	}
	if m.total == 0 {
		return m, errNoMeminfo
	}
	m.free = free
	if haveAvailable {
		m.free = available
	}
	return m, nil
}

// lastGCPause is the stop-the-world pause of the last garbage collection; 0 before the first.
func lastGCPause() time.Duration {
	var st debug.GCStats
	debug.ReadGCStats(&st)
	if len(st.Pause) == 0 {
		return 0
	}
	return st.Pause[0]
}
