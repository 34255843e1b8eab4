//go:build !linux

package diskguard

import "errors"

func statfs(string) (uint64, uint64, error) {
	return 0, 0, errors.New("free space is only read on linux")
}
