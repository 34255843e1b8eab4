//go:build !unix

package storage

const oNoFollow = 0
