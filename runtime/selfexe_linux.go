package runtime

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// protectedSelf returns an fd of the running minirun binary that cannot be
// used to modify it, to be exec'd (through /proc/self/fd) as a container's
// init.
//
// Why (CVE-2019-5736): while init runs, /proc/<init>/exe names the binary it
// was exec'd from, and a process in the container may reach it, e.g. by
// making its entrypoint "#!/proc/self/exe" so that the container's pid 1
// becomes minirun itself. It can then keep an O_PATH handle and reopen it
// for writing once minirun has exited, overwriting the host's runtime.
// Init also makes itself non-dumpable, which closes /proc/<init> to the
// container, but not that path.
//
// The measure: exec init from a read-only clone of the binary's mount.
// open_tree(2) with OPEN_TREE_CLONE makes a detached bind mount of just
// this file, mount_setattr(2) makes it read-only, and the exec goes through
// that mount. Every later open of /proc/<pid>/exe, or of a handle to it,
// resolves to the same read-only mount: EROFS. The clone lives in an
// anonymous mount namespace that dissolves when its last fd is closed
// (init's, at its execve); after that not even a process with
// CAP_SYS_ADMIN can make it writable again (mount_setattr answers EINVAL),
// and no other mount namespace holds it. It costs a few microseconds.
//
// Kernels before 5.12 lack mount_setattr: there minirun falls back to
// runc's older measure, a sealed memfd copy (sealedCopy), which costs a
// copy of the binary (about 2 ms for 8 MB) on every create and exec.
func protectedSelf() (*os.File, string, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, "/proc/self/exe", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err == nil {
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		if err = unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err == nil {
			return os.NewFile(uintptr(fd), "minirun"), "a read-only detached mount of minirun (open_tree + mount_setattr)", nil
		}
		unix.Close(fd)
	}
	f, err := sealedCopy()
	return f, "a sealed memfd copy of minirun", err
}

// sealedCopy returns a memfd holding a copy of the running binary, sealed
// with F_SEAL_WRITE|F_SEAL_GROW|F_SEAL_SHRINK|F_SEAL_SEAL: it can be
// opened but never written. The copy is made in the kernel with
// sendfile(2) from the page cache.
func sealedCopy() (*os.File, error) {
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return nil, err
	}
	fd, err := unix.MemfdCreate("minirun", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	f := os.NewFile(uintptr(fd), "/memfd:minirun")
	size := st.Size()
	var off int64
	for off < size {
		n, err := unix.Sendfile(fd, int(src.Fd()), &off, int(size-off))
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			f.Close()
			return nil, fmt.Errorf("copy minirun into memfd: %v", err)
		}
	}
	const seals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, os.NewSyscallError("fcntl(F_ADD_SEALS)", err)
	}
	return f, nil
}
