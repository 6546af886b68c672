package archive

// Directories: every one an entry goes into is resolved beneath the
// layer directory (see resolve), made when missing, and removed when a
// later entry replaces it.

import (
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// dir returns a descriptor of directory p (clean, relative to the root),
// making it and its missing parents, and keeps it as the last directory.
// The descriptor belongs to the applier: do not close it.
func (a *applier) dir(p, entry string) (int, error) {
	if p == "." {
		return a.root, nil
	}
	if a.lastFd >= 0 && p == a.lastPath {
		return a.lastFd, nil
	}
	// Going down from the last directory (a/b after a) looks up only the
	// rest of the way; either way, the lookup is beneath a descriptor the
	// same rules gave.
	from, fromPath, rel := a.root, ".", p
	if a.lastFd >= 0 && strings.HasPrefix(p, a.lastPath+"/") {
		from, fromPath, rel = a.lastFd, a.lastPath, p[len(a.lastPath)+1:]
	}
	fd, err := openDir(from, rel)
	if err == unix.ENOENT {
		fd, err = a.mkdirAll(from, fromPath, rel, entry)
	}
	if err != nil {
		return -1, dirError(p, err)
	}
	a.forgetLast()
	a.lastPath, a.lastFd = p, fd
	return fd, nil
}

// mkdirAll makes the missing directories of rel beneath from (whose path
// is fromPath), one component at a time, as docker does for an archive
// that leaves out a parent. They get mode 0755 and the caller's owner.
func (a *applier) mkdirAll(from int, fromPath, rel, entry string) (int, error) {
	cur, curPath := from, fromPath
	for c := range strings.SplitSeq(rel, "/") {
		p := path.Join(curPath, c)
		fd, err := openDir(cur, c)
		if err == unix.ENOENT {
			err = unix.Mkdirat(cur, c, 0o700)
			if err == nil {
				a.dirs[p] = dirMeta{entry: entry, mode: 0o755}
			}
			if err == nil || err == unix.EEXIST {
				fd, err = openDir(cur, c)
			}
		}
		if cur != from {
			unix.Close(cur)
		}
		if err != nil {
			return -1, err
		}
		cur, curPath = fd, p
	}
	return cur, nil
}

// lookupDir returns a descriptor of the existing directory p, and what to
// call when done with it. The descriptor is never the last directory's,
// which removeAll may close while the caller still uses this one: a
// closed descriptor's number can be reused by any goroutine's open.
func (a *applier) lookupDir(p string) (int, func(), error) {
	if p == "." {
		return a.root, func() {}, nil
	}
	fd, err := openDir(a.root, p)
	if err != nil {
		return -1, nil, dirError(p, err)
	}
	return fd, func() { unix.Close(fd) }, nil
}

// openDir opens directory rel beneath dfd by the rules of resolve.
func openDir(dfd int, rel string) (int, error) {
	how := unix.OpenHow{
		// Not O_NOFOLLOW: RESOLVE_NO_SYMLINKS already refuses a last
		// component that is a symlink, with ELOOP, where O_NOFOLLOW and
		// O_DIRECTORY together would say ENOTDIR.
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: resolve,
	}
	for range 16 {
		fd, err := unix.Openat2(dfd, rel, &how)
		// EAGAIN: the kernel saw a rename race during the lookup and
		// asks us to try again rather than guess.
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		return fd, err
	}
	return -1, unix.EAGAIN
}

// dirError explains a failed lookup of directory p.
func dirError(p string, err error) error {
	pe := &os.PathError{Op: "openat2", Path: p, Err: err}
	switch err {
	case unix.ELOOP:
		return fmt.Errorf("%w: %q crosses a symlink: %w", ErrUnsafePath, p, pe)
	case unix.EXDEV:
		return fmt.Errorf("%w: %q crosses a mount point: %w", ErrUnsafePath, p, pe)
	}
	return pe
}

// removeAll removes base from dfd, with everything in it if it is a
// directory, following no symlink.
func (a *applier) removeAll(dfd int, base string) error {
	err := unix.Unlinkat(dfd, base, 0)
	if err != unix.EISDIR {
		if err == unix.ENOENT {
			return nil
		}
		return err
	}
	// The last directory may be this one or inside it, unless it is dfd
	// itself: a descriptor of a removed directory would make later
	// entries vanish with it.
	if a.lastFd >= 0 && a.lastFd != dfd {
		a.forgetLast()
	}
	return removeTree(dfd, base)
}

func removeTree(dfd int, base string) error {
	fd, err := unix.Openat(dfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	names, err := readDirNames(fd)
	for _, n := range names {
		if err != nil {
			break
		}
		err = unix.Unlinkat(fd, n, 0)
		if err == unix.EISDIR {
			err = removeTree(fd, n)
		}
	}
	unix.Close(fd)
	if err != nil {
		return err
	}
	return unix.Unlinkat(dfd, base, unix.AT_REMOVEDIR)
}

func readDirNames(fd int) ([]string, error) {
	buf := make([]byte, 8<<10)
	var names []string
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}
