package archive

// Metadata of what Apply made: modes, owners, extended attributes and
// times, and the directories' last of all.

import (
	"archive/tar"
	"cmp"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// meta sets the metadata of base in dfd, a symlink, device or fifo,
// without following it if it is a symlink. chmod is false for symlinks,
// which have no mode of their own.
func (a *applier) meta(dfd int, name, base string, hdr *tar.Header, chmod bool) error {
	if !a.opts.NoChown {
		if err := unix.Fchownat(dfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "fchownat", Path: name, Err: err}
		}
	}
	if chmod {
		if err := chmodNoFollow(dfd, base, uint32(hdr.Mode)&0o7777); err != nil {
			return &os.PathError{Op: "fchmodat", Path: name, Err: err}
		}
	}
	if err := a.xattrs(name, hdr, lsetxattrAt(dfd, base)); err != nil {
		return err
	}
	ts := times(hdr)
	if err := unix.UtimesNanoAt(dfd, base, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimensat", Path: name, Err: err}
	}
	return nil
}

// chmodNoFollow sets the mode of base in dfd unless it is a symlink.
// fchmodat2(2) (Linux 6.6) does it without following; before it,
// fchmodat(2) follows a symlink, so base is looked at first. The two
// steps are not atomic, which is safe only because nothing but Apply
// writes in the layer directory while it runs.
func chmodNoFollow(dfd int, base string, mode uint32) error {
	err := unix.Fchmodat(dfd, base, mode, unix.AT_SYMLINK_NOFOLLOW)
	if err != unix.EOPNOTSUPP {
		return err
	}
	// No fchmodat2, or base is a symlink.
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return nil
	}
	return unix.Fchmodat(dfd, base, mode, 0)
}

// lsetxattrAt sets attributes on base in dfd without following it. There
// is no lsetxattrat(2) before Linux 6.13's setxattrat(2); the path
// /proc/self/fd/N/base reaches base through the descriptor of its
// directory, and lsetxattr does not follow base itself.
func lsetxattrAt(dfd int, base string) func(string, []byte) error {
	p := "/proc/self/fd/" + strconv.Itoa(dfd) + "/" + base
	return func(k string, v []byte) error { return unix.Lsetxattr(p, k, v, 0) }
}

// xattrs sets the entry's extended attributes with set, skipping those
// the package documentation says are skipped.
func (a *applier) xattrs(name string, hdr *tar.Header, set func(string, []byte) error) error {
	if len(hdr.PAXRecords) == 0 {
		return nil
	}
	for _, k := range slices.Sorted(maps.Keys(hdr.PAXRecords)) {
		attr, ok := strings.CutPrefix(k, xattrPrefix)
		if !ok {
			continue
		}
		if isOverlayXattr(attr) {
			a.stats.XattrsSkipped++
			continue
		}
		err := set(attr, []byte(hdr.PAXRecords[k]))
		if err == nil {
			continue
		}
		if xattrRefused(attr, err) {
			a.stats.XattrsSkipped++
			continue
		}
		return &os.PathError{Op: "setxattr " + attr, Path: name, Err: err}
	}
	return nil
}

// xattrRefused tells a refusal (the kernel, a filesystem or an LSM will
// not have this attribute here) from a failure.
func xattrRefused(attr string, err error) bool {
	switch err {
	case unix.EPERM, unix.EOPNOTSUPP:
		// trusted.* without CAP_SYS_ADMIN, security.capability without
		// CAP_SETFCAP, user.* on a symlink or device, a filesystem
		// without xattrs, a namespace the kernel does not know.
		return true
	case unix.EACCES, unix.EINVAL:
		return strings.HasPrefix(attr, "security.")
	}
	return false
}

// times returns atime and mtime for utimensat(2). Without a PAX atime
// the access time is the modification time, as tar(1) does.
func times(hdr *tar.Header) [2]unix.Timespec {
	m, at := hdr.ModTime, hdr.AccessTime
	if at.IsZero() {
		at = m
	}
	return [2]unix.Timespec{timespec(at), timespec(m)}
}

func timespec(t time.Time) unix.Timespec {
	if t.IsZero() {
		return unix.Timespec{Nsec: unix.UTIME_OMIT}
	}
	// Not unix.NsecToTimespec(t.UnixNano()): UnixNano overflows outside
	// 1678-2262, and tar's base-256 fields go far beyond.
	ts, err := unix.TimeToTimespec(t)
	if err != nil {
		// Beyond 2038 on a 32-bit system: the file keeps the time of its
		// making rather than the layer failing.
		return unix.Timespec{Nsec: unix.UTIME_OMIT}
	}
	return ts
}

// futimens is utimensat(2) with a NULL path, which sets the times of fd
// itself; x/sys/unix has no wrapper for that form.
func futimens(fd int, ts *[2]unix.Timespec) error {
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// finishDirs sets the mode and times of the directories, now that nothing
// more is written into them. Deepest first, so that an unprivileged
// caller can still reach a directory whose parent becomes read-only.
func (a *applier) finishDirs() error {
	a.forgetLast()
	paths := slices.Collect(maps.Keys(a.dirs))
	slices.SortFunc(paths, func(x, y string) int {
		if c := cmp.Compare(strings.Count(y, "/"), strings.Count(x, "/")); c != 0 {
			return c
		}
		return strings.Compare(x, y)
	})
	for _, p := range paths {
		m := a.dirs[p]
		fd, err := openDir(a.root, p)
		switch err {
		case nil:
		case unix.ENOENT, unix.ENOTDIR, unix.ELOOP:
			// A later entry removed or replaced it (a directory made at
			// the same path again has a newer record).
			continue
		default:
			return &EntryError{Name: m.entry, Err: &os.PathError{Op: "openat2", Path: p, Err: err}}
		}
		err = unix.Fchmod(fd, m.mode)
		if err != nil {
			err = &os.PathError{Op: "fchmod", Path: p, Err: err}
		} else if m.setTimes {
			if err = futimens(fd, &m.times); err != nil {
				err = &os.PathError{Op: "futimens", Path: p, Err: err}
			}
		}
		unix.Close(fd)
		if err != nil {
			return &EntryError{Name: m.entry, Err: err}
		}
	}
	return nil
}
