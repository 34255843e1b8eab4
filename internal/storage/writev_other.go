//go:build !linux

package storage

import "os"

// writeBuffers writes bufs with one write call each where there is no writev to call.
func writeBuffers(f *os.File, bufs [][]byte) (int64, error) {
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
