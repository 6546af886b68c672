package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/explain"
)

// This file resolves paths inside the rootfs as if the rootfs were /.
//
// The rootfs is untrusted: it comes from an image, and a volume shared with
// another container may change while we work. If Prepare called
// mount("proc", rootfs+"/proc", ...) the kernel would resolve that string
// from the host's /, and a symlink "proc -> /" planted in the image would
// put the container's procfs over the host's /. Worse, the check and the
// mount are two steps: a directory swapped for a symlink in between
// (CVE-2021-30465) redirects a mount that looked safe.
//
// So every destination is walked with openat2(2) and RESOLVE_IN_ROOT, which
// makes the kernel treat the rootfs's fd as / for the whole lookup
// (absolute symlinks and ".." stop at it), and RESOLVE_NO_MAGICLINKS, which
// refuses /proc/*/fd and /proc/*/root style links that would jump anywhere.
// What is missing is created one component at a time, always with a
// *at(2) call on a directory fd obtained that way. The mount then targets
// /proc/self/fd/N of the resulting O_PATH fd: the kernel follows that link
// to the very inode we opened, so no later swap can move it.

// maxSymlinks is the kernel's limit on symlinks followed in one lookup.
const maxSymlinks = 40

// root is the container's root filesystem, held open as an O_PATH fd.
type root struct {
	fd   int
	path string        // host path, for messages and logs
	ex   *explain.Sink // where each mount made through it is explained
}

// openRoot opens the rootfs. Call it after the rootfs has been bound onto
// itself (or the overlay mounted on it): the fd must name that mount, or
// mounts made through it would land on the mount underneath and be hidden
// from the container.
func openRoot(p string) (*root, error) {
	fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return &root{fd: fd, path: p}, nil
}

func (r *root) close() { unix.Close(r.fd) }

// hostPath is where p (a path inside the root) is seen from the host,
// for messages only: never pass it to a system call.
func (r *root) hostPath(p string) string { return path.Join(r.path, p) }

// open opens p, a path inside the root, resolving it inside the root.
// flags are added to O_PATH|O_CLOEXEC.
func (r *root) open(p string, flags uint64) (int, error) {
	rel := strings.TrimLeft(p, "/")
	if rel == "" {
		rel = "."
	}
	how := unix.OpenHow{
		Flags:   flags | unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for range 16 {
		fd, err := unix.Openat2(r.fd, rel, &how)
		// EAGAIN: a rename or mount raced a ".." during an in-root lookup,
		// and the kernel asks us to try again rather than guess.
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		return fd, err
	}
	return -1, unix.EAGAIN
}

// mkdirAll resolves p inside the root and creates whatever is missing:
// directories, and for the last component a directory, or an empty
// regular file when file is true (the target of a bind mount of a file).
// It returns an O_PATH fd of the result and the resolved path (inside the
// root, with no symlinks left in it) for the checks that need to know
// where p really leads.
func (r *root) mkdirAll(p string, file bool) (fd int, resolved string, err error) {
	resolved = "/"
	todo := p
	links := 0
	for {
		todo = strings.TrimLeft(todo, "/")
		if todo == "" {
			break
		}
		name, rest, _ := strings.Cut(todo, "/")
		todo = rest
		switch name {
		case ".":
			continue
		case "..":
			// path.Dir of "/" is "/": ".." cannot climb out of the root.
			resolved = path.Dir(resolved)
			continue
		}
		last := strings.Trim(todo, "/") == ""
		target, err := r.step(resolved, name, last && file)
		if err != nil {
			return -1, "", err
		}
		if target == "" {
			resolved = path.Join(resolved, name)
			continue
		}
		// A symlink: splice its target in front of what is left, as the
		// kernel does; an absolute one starts again at the root.
		if links++; links > maxSymlinks {
			return -1, "", unix.ELOOP
		}
		if path.IsAbs(target) {
			resolved = "/"
		}
		todo = target + "/" + todo
	}
	// Open the result through the kernel's in-root lookup: whatever was
	// swapped since we looked, the fd is inside the root.
	fd, err = r.open(resolved, 0)
	if err != nil {
		return -1, "", err
	}
	return fd, resolved, nil
}

// step looks at name in the directory dir (resolved, inside the root).
// It creates name if it is missing and returns "", returns "" for anything
// that exists but a symlink, and a symlink's target.
func (r *root) step(dir, name string, file bool) (string, error) {
	dfd, err := r.open(dir, unix.O_DIRECTORY)
	if err != nil {
		return "", err
	}
	defer unix.Close(dfd)
	var st unix.Stat_t
	err = unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case err == unix.ENOENT:
		if file {
			// O_EXCL|O_NOFOLLOW: never open, let alone truncate, something
			// that appeared meanwhile.
			fd, err := unix.Openat(dfd, name, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
			if err == nil {
				unix.Close(fd)
			}
			if err != nil && err != unix.EEXIST {
				return "", err
			}
			return "", nil
		}
		if err := unix.Mkdirat(dfd, name, 0o755); err != nil && err != unix.EEXIST {
			return "", err
		}
		return "", nil
	case err != nil:
		return "", err
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(dfd, name, buf)
		if err != nil {
			return "", err
		}
		if n == 0 {
			return "", unix.ENOENT
		}
		return string(buf[:n]), nil
	}
	return "", nil
}

// parent resolves the directory of p inside the root, creating it as
// needed, and returns its fd and the last component of p, for the *at(2)
// calls that create p itself (mknodat, symlinkat).
func (r *root) parent(p string) (dfd int, name string, err error) {
	dir, name := path.Split(path.Clean(p))
	if name == "" || name == "." || name == ".." {
		return -1, "", unix.EINVAL
	}
	dfd, _, err = r.mkdirAll(dir, false)
	return dfd, name, err
}

// procFd is the path through which a system call that takes a path
// (mount(2) above all) reaches exactly the inode fd refers to.
func procFd(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// mountID returns the id of the mount fd is on (statx STATX_MNT_ID).
func mountID(fd int) (uint64, error) {
	var stx unix.Statx_t
	err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &stx)
	if err != nil {
		return 0, err
	}
	if stx.Mask&unix.STATX_MNT_ID == 0 {
		return 0, unix.ENOSYS
	}
	return stx.Mnt_id, nil
}

// reopen opens resolved again after a mount onto old, its fd from before.
// An fd opened before a mount still names the directory underneath; to
// remount or change the propagation of the new mount we need one that
// names the new mount's root. The two must be on different mounts, or the
// path changed under us between the mount and now.
func (r *root) reopen(resolved string, old int) (int, error) {
	fd, err := r.open(resolved, 0)
	if err != nil {
		return -1, err
	}
	before, err1 := mountID(old)
	after, err2 := mountID(fd)
	if err := errors.Join(err1, err2); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("statx mount id: %w", err)
	}
	if before == after {
		unix.Close(fd)
		return -1, fmt.Errorf("%s: new mount not found there after mounting (path changed under us?)", resolved)
	}
	return fd, nil
}
