package runtime

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// inheritedFDs is the first fd number that was free when minirun started:
// fds 3 .. inheritedFDs-1 are the ones its caller passed. It is taken
// before main runs, so no fd of minirun's own (state dir locks, the log
// file) is counted: --preserve-fds must never hand one of those to a
// container.
var inheritedFDs = firstFreeFD()

func firstFreeFD() int {
	fd, err := unix.Dup(0) // dup(2) returns the lowest free number
	if err != nil {
		return 3
	}
	unix.Close(fd)
	return fd
}

// checkPreserved makes sure fds 3 .. 3+n-1 came from the caller.
func checkPreserved(n int) error {
	if n < 0 {
		return fmt.Errorf("--preserve-fds %d: must not be negative", n)
	}
	if n > 0 && 3+n > inheritedFDs {
		return fmt.Errorf("--preserve-fds %d: only %d fds after stdio were passed to minirun", n, max(inheritedFDs-3, 0))
	}
	return nil
}

// Until its execve, init still holds fds of the host: its handle on the
// host's /proc, the exec fifo, the sync socket, the binary it runs from.
// A path of the form /proc/self/fd/N leads to whichever of those is fd N
// at the moment the path is resolved. CVE-2024-21626 was runc's working
// directory set through such a path (process.cwd or exec --cwd) to a
// leaked fd of the host's /sys/fs/cgroup: the process started there, and
// ".." climbed to the host's /. Closing every fd first is not enough, the
// kernel would still follow the link for the ones in use. So the working
// directory is resolved by the kernel with the container's root as / and
// magic links refused: openat2(2) with RESOLVE_IN_ROOT and
// RESOLVE_NO_MAGICLINKS, then fchdir(2) to what it opened.

// openInRoot opens dir, a path in the container, as an O_PATH directory
// fd, resolved inside the calling process's root.
func openInRoot(dir string) (int, error) {
	root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: "/", Err: err}
	}
	defer unix.Close(root)
	rel := strings.TrimLeft(path.Clean("/"+dir), "/")
	if rel == "" {
		rel = "."
	}
	how := unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for range 16 {
		fd, err := unix.Openat2(root, rel, &how)
		// EAGAIN: a rename raced the in-root lookup; the kernel asks for a
		// retry rather than risk a wrong answer.
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err == unix.ELOOP {
			err = fmt.Errorf("%w (a /proc magic link such as /proc/self/fd/N, or a symlink loop)", err)
		}
		return fd, err
	}
	return -1, unix.EAGAIN
}

// chdirInRoot makes dir, a path in the container, the working directory.
func chdirInRoot(dir string) error {
	fd, err := openInRoot(dir)
	if err != nil {
		return &os.PathError{Op: "chdir", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Fchdir(fd); err != nil {
		return &os.PathError{Op: "chdir", Path: dir, Err: err}
	}
	return nil
}

// mkdirInRoot creates dir, a path in the container, and its missing
// parents (mode 0755), each resolved as chdirInRoot resolves the working
// directory, so that no mkdir lands outside the container.
func mkdirInRoot(dir string) error {
	clean := path.Clean("/" + dir)
	fd, err := openInRoot(clean)
	if err == nil {
		unix.Close(fd)
		return nil
	}
	if !errors.Is(err, unix.ENOENT) || clean == "/" {
		return &os.PathError{Op: "mkdir", Path: dir, Err: err}
	}
	parent, name := path.Split(clean)
	if err := mkdirInRoot(parent); err != nil {
		return err
	}
	pfd, err := openInRoot(parent)
	if err != nil {
		return &os.PathError{Op: "mkdir", Path: dir, Err: err}
	}
	defer unix.Close(pfd)
	if err := unix.Mkdirat(pfd, name, 0o755); err != nil && err != unix.EEXIST {
		return &os.PathError{Op: "mkdir", Path: dir, Err: err}
	}
	return nil
}
