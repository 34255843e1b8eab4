package diskguard

import "syscall"

// statfs returns the bytes available to unprivileged users and the volume size.
func statfs(dir string) (free, total uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	bs := uint64(st.Bsize) //nolint:unconvert // Bsize is int64 on some platforms
	return st.Bavail * bs, st.Blocks * bs, nil
}
