package runtime

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Init writes a few files of procfs on the process's behalf: sysctls under
// /proc/sys and /proc/self/oom_score_adj. The container's /proc is the
// wrong place to open them. With no procfs mounted it is whatever the
// image holds, a symlink "self -> /volume" included, and a write there
// lands in a host file; with one mounted, a process of the container that
// may mount (or a racing bind mount, CVE-2025-52881 in runc) can put
// another proc file, /proc/sysrq-trigger say, where the runtime expects
// oom_score_adj.
//
// So they are opened through hostProc, init's fd of the host's /proc taken
// before any mount or setns(mnt), which nothing in the container can
// reach or cover, with openat2(2) RESOLVE_BENEATH (no escape from it),
// RESOLVE_NO_XDEV (no crossing into a mount on top of a proc file) and
// RESOLVE_NO_MAGICLINKS; and what opened must be on procfs (fstatfs(2)
// PROC_SUPER_MAGIC). /proc/self there names init by its pid in the host's
// pid namespace, which is still init.

// openProc opens name, relative to the host's /proc ("sys/kernel/x",
// "self/oom_score_adj"), with flags.
func openProc(name string, flags int) (int, error) {
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC | unix.O_NOFOLLOW),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_XDEV | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd := -1
	var err error
	for range 16 {
		fd, err = unix.Openat2(hostProc, name, &how)
		if err != unix.EAGAIN && err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: "/proc/" + name, Err: err}
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil || fs.Type != unix.PROC_SUPER_MAGIC {
		unix.Close(fd)
		return -1, fmt.Errorf("open /proc/%s: not a procfs file (f_type %#x, %v)", name, fs.Type, err)
	}
	return fd, nil
}

// writeProc writes value to name, as openProc opens it.
func writeProc(name, value string) error {
	fd, err := openProc(name, unix.O_WRONLY)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(value)); err != nil {
		return &os.PathError{Op: "write", Path: "/proc/" + name, Err: err}
	}
	return nil
}
