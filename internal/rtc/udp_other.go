//go:build !linux

package rtc

import (
	"errors"
	"syscall"
)

var errNotLinux = errors.New("only read and set on linux")

func setReceiveBuffer(syscall.RawConn, int) (int, error) { return 0, errNotLinux }

func udpDrops(int) (uint64, error) { return 0, errNotLinux }
