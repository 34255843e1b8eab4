//go:build !linux

package storage

import "os"

// vectorWriter writes with one write call per buffer where there is no writev to call.
type vectorWriter struct{}

func (vectorWriter) writeBuffers(f *os.File, bufs [][]byte) (int64, error) {
	var total int64
	for _, b := range bufs {
		n, err := f.Write(b)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
