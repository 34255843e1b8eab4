package cluster

import (
	"runtime"
	"syscall"
	"time"
)

// cpuMeter is the process's share of the machine's cores between two samples.
type cpuMeter struct {
	at   time.Time
	used time.Duration
}

func (m *cpuMeter) sample() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	used := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	now := time.Now()
	prevAt, prevUsed := m.at, m.used
	m.at, m.used = now, used
	if prevAt.IsZero() || !now.After(prevAt) {
		return 0
	}
	return min(1, (used-prevUsed).Seconds()/now.Sub(prevAt).Seconds()/float64(runtime.NumCPU()))
}
