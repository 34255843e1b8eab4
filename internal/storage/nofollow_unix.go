//go:build unix

package storage

import "syscall"

const oNoFollow = syscall.O_NOFOLLOW
