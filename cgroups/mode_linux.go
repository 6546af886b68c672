package cgroups

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Detect tells the cgroup mode of the host from the filesystem types at
// root (normally /sys/fs/cgroup), as statfs(2) reports them: a cgroup2
// filesystem there is Unified; a tmpfs there holds v1 hierarchies, and is
// Hybrid when root/unified is a cgroup2 filesystem, Legacy otherwise.
//
// It never guesses from file names: a directory called "unified" or a file
// called "cgroup.controllers" proves nothing, the filesystem magic does.
func Detect(root string) (Mode, error) {
	typ, err := fsType(root)
	if err != nil {
		return 0, err
	}
	switch typ {
	case unix.CGROUP2_SUPER_MAGIC:
		return Unified, nil
	case unix.TMPFS_MAGIC:
		u, err := fsType(filepath.Join(root, "unified"))
		if err == nil && u == unix.CGROUP2_SUPER_MAGIC {
			return Hybrid, nil
		}
		if err != nil && !os.IsNotExist(err) {
			return 0, err
		}
		return Legacy, nil
	}
	return 0, fmt.Errorf("detect cgroup mode: %s is neither cgroup2 nor tmpfs (filesystem magic %#x)", root, typ)
}

func fsType(path string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	return int64(st.Type), nil
}
