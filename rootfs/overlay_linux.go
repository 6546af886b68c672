package rootfs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// forceOverlayData makes mountOverlay take the mount(2) path even where
// the kernel has "lowerdir+": tests set it to cover the fallback on any
// kernel.
var forceOverlayData bool

// MountOverlay mounts o on target, an existing directory (normally empty:
// the overlay hides what is in it). It works outside a container's init
// too, but it mounts in the caller's mount namespace: where that
// namespace's / is shared the mount propagates to its peers, so call it
// under a private mount. Where the kernel has "lowerdir+" (6.8 and later)
// it takes overlayfs's full 500 layers; elsewhere the layers are passed as
// /proc/self/fd/N in mount(2)'s one page of options, which needs procfs at
// /proc and holds about 200 layers (210 with upper and work paths of 125
// bytes, 197 at least), and more fail with an error that says so. The
// package documentation explains both ways.
func MountOverlay(target string, o *Overlay) error {
	return mountOverlay(slog.New(slog.DiscardHandler), target, o)
}

func mountOverlay(log *slog.Logger, target string, o *Overlay) error {
	if err := o.Validate(); err != nil {
		return err
	}
	var err error
	if !forceOverlayData && lowerdirAppend() {
		err = mountOverlayFS(log, target, o)
	} else {
		err = mountOverlayData(log, target, o)
	}
	if err != nil {
		return fmt.Errorf("mount overlay of %d layers on %s: %w", len(o.Lower), target, err)
	}
	return nil
}

// lowerdirAppend reports whether overlayfs takes "lowerdir+" through
// fsconfig(2) (Linux 6.8 and later), found out once by asking the kernel,
// not by its version: distributions backport. Two probes on a throwaway
// filesystem context, both silent (their messages go to the context's
// log, not the kernel's): "lowerdir+" as a flag, where it wants a string,
// is refused by every kernel that parses overlay's options at fsconfig
// time, and taken by 6.1's, which only collects them into the legacy
// option string for FSCONFIG_CMD_CREATE; "lowerdir+" = "/" is then taken
// by 6.8 and later only (6.5 to 6.7 know no such key).
var lowerdirAppend = sync.OnceValue(func() bool {
	fd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	if err := unix.FsconfigSetFlag(fd, "lowerdir+"); err != unix.EINVAL {
		return false
	}
	return unix.FsconfigSetString(fd, "lowerdir+", "/") == nil
})

// mountOverlayFS mounts with the new mount API: one fsconfig(2) call per
// layer, so no string holds them all and the only limit is overlayfs's
// own (500 layers).
func mountOverlayFS(log *slog.Logger, target string, o *Overlay) error {
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	log.Debug(fmt.Sprintf(`fsopen("overlay", FSOPEN_CLOEXEC) = %d`, fsfd))
	if err != nil {
		return os.NewSyscallError("fsopen", err)
	}
	defer unix.Close(fsfd)
	set := func(key, value string) error {
		log.Debug(fmt.Sprintf("fsconfig(%d, FSCONFIG_SET_STRING, %q, %q)", fsfd, key, value))
		if err := unix.FsconfigSetString(fsfd, key, value); err != nil {
			return fsError(fsfd, fmt.Sprintf("fsconfig %s=%s", key, value), err)
		}
		return nil
	}
	// "source" is what mountinfo shows, as for mount(2)'s first argument.
	if err := set("source", "overlay"); err != nil {
		return err
	}
	// Each "lowerdir+" adds a layer below those before it: topmost first,
	// the order of Lower.
	for _, l := range o.Lower {
		if err := set("lowerdir+", l); err != nil {
			return err
		}
	}
	if o.Upper != "" {
		if err := set("upperdir", o.Upper); err != nil {
			return err
		}
		if err := set("workdir", o.Work); err != nil {
			return err
		}
	}
	// The superblock is made here; this is where the kernel checks the
	// upper and work dirs against each other.
	log.Debug(fmt.Sprintf("fsconfig(%d, FSCONFIG_CMD_CREATE)", fsfd))
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fsError(fsfd, "fsconfig FSCONFIG_CMD_CREATE", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
	log.Debug(fmt.Sprintf("fsmount(%d, FSMOUNT_CLOEXEC, 0) = %d", fsfd, mfd))
	if err != nil {
		return fsError(fsfd, "fsmount", err)
	}
	defer unix.Close(mfd)
	// Until now the mount was detached, in no namespace; move_mount(2)
	// attaches it at target, where it propagates as a mount(2) there would.
	log.Debug(fmt.Sprintf(`move_mount(%d, "", AT_FDCWD, %q, MOVE_MOUNT_F_EMPTY_PATH)`, mfd, target))
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return &os.PathError{Op: "move_mount", Path: target, Err: err}
	}
	return nil
}

// fsError wraps err from a call on the filesystem context fsfd with what
// the kernel wrote to the context's log, if anything: often the only place
// that says which option it disliked.
func fsError(fsfd int, op string, err error) error {
	var msgs []string
	buf := make([]byte, 256)
	for range 8 {
		n, rerr := unix.Read(fsfd, buf)
		if rerr != nil || n <= 0 {
			break
		}
		msgs = append(msgs, strings.TrimSpace(string(buf[:n])))
	}
	err = os.NewSyscallError(op, err)
	if len(msgs) > 0 {
		return fmt.Errorf("%w (kernel: %s)", err, strings.Join(msgs, "; "))
	}
	return err
}

// mountOverlayData mounts with mount(2), for kernels without "lowerdir+".
// All options travel in one string of at most a page; the layers go in it
// not by their paths (about 100 bytes each: 40 layers fill a page) but as
// /proc/self/fd/N of an O_PATH fd of each (17 bytes or so), which the
// kernel follows like any symlink when it resolves the layers during the
// mount. That fits about 200 layers in a 4 KiB page. The fds are closed
// when it returns: the mount holds the layers by then.
func mountOverlayData(log *slog.Logger, target string, o *Overlay) error {
	fds := make([]int, 0, len(o.Lower))
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	names := make([]string, 0, len(o.Lower))
	for _, l := range o.Lower {
		fd, err := unix.Open(l, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "open", Path: l, Err: err}
		}
		fds = append(fds, fd)
		log.Debug(fmt.Sprintf("open(%q, O_PATH|O_DIRECTORY|O_CLOEXEC) = %d", l, fd))
		names = append(names, procFd(fd))
	}
	data, err := overlayData(names, o.Upper, o.Work, unix.Getpagesize())
	if err != nil {
		return err
	}
	err = sysMount(log, "overlay", target, "overlay", 0, data, "")
	if errors.Is(err, unix.EINVAL) {
		// overlayfs says which rule a mount(2) broke only in the kernel
		// log.
		return fmt.Errorf("%w (overlayfs says why in the kernel log)", err)
	}
	return err
}
