package bench

import (
	"bytes"
	"fmt"
	"os/exec"
	"strconv"
	"syscall"
)

// diskLimit puts a size limit on a recorder's directory: a tmpfs of that size mounted on it
// (needs root, or CAP_SYS_ADMIN), or else vigil's own quota (disk.max_bytes, which deletes the
// oldest segments beyond it). mounted says which; unmount undoes the mount.
type diskLimit struct {
	dir     string
	bytes   int64
	mounted bool
	// why says why no tmpfs could be mounted (empty when one was).
	why string
}

func limitDisk(dir string, bytes int64) *diskLimit {
	d := &diskLimit{dir: dir, bytes: bytes}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.FormatInt(bytes, 10), "tmpfs", dir).CombinedOutput() //nolint:noctx // mount returns at once
	if err != nil {
		d.why = fmt.Sprintf("mount tmpfs: %v: %s", err, trim(out))
		return d
	}
	d.mounted = true
	return d
}

// serveFlags are the recorder's extra flags: the quota when no tmpfs could be mounted.
func (d *diskLimit) serveFlags() []string {
	if d == nil || d.mounted {
		return nil
	}
	return []string{"--disk-max-bytes", strconv.FormatInt(d.bytes, 10)}
}

// String describes the limit for the user.
func (d *diskLimit) String() string {
	if d.mounted {
		return fmt.Sprintf("recorder directory on a %s tmpfs", mb(float64(d.bytes)))
	}
	return fmt.Sprintf("no tmpfs (%s): vigil's own quota --disk-max-bytes %d instead (oldest segments deleted beyond it)",
		d.why, d.bytes)
}

func (d *diskLimit) unmount() error {
	if d == nil || !d.mounted {
		return nil
	}
	if out, err := exec.Command("umount", "-l", d.dir).CombinedOutput(); err != nil { //nolint:noctx // returns at once
		return fmt.Errorf("unmount %s: %w: %s", d.dir, err, trim(out))
	}
	return nil
}

func trim(b []byte) string { return string(bytes.TrimSpace(b)) }

// freeBytes is the free space of dir's volume for an unprivileged writer; -1 when unknown.
func freeBytes(dir string) float64 {
	if dir == "" {
		return -1
	}
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) != nil {
		return -1
	}
	return float64(st.Bavail) * float64(st.Bsize)
}

func mb(b float64) string { return fmt.Sprintf("%.0f MB", b/1e6) }
