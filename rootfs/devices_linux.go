package rootfs

import (
	"fmt"
	"log/slog"
	"os"

	"golang.org/x/sys/unix"
)

// setupDev creates the device nodes devs and the standard links in the
// container's /dev, all resolved inside the root.
func (r *root) setupDev(log *slog.Logger, devs []device) error {
	// umask would strip bits from the modes the spec asks for (0666 would
	// become 0644 under the usual 022). The umask belongs to the whole
	// process (its fs_struct), which is fine in the container's init: no
	// other goroutine creates files meanwhile.
	log.Debug("umask(0)")
	old := unix.Umask(0)
	defer func() {
		log.Debug(fmt.Sprintf("umask(%#o)", old))
		unix.Umask(old)
	}()

	for _, d := range devs {
		if err := r.createDevice(log, d); err != nil {
			return err
		}
	}
	links := devLinks
	// /dev/core only where the kernel has /proc/kcore to point at (it is
	// absent when the kernel is built without CONFIG_PROC_KCORE).
	if _, err := os.Stat("/proc/kcore"); err == nil {
		links = append(links[:len(links):len(links)], [2]string{"/dev/core", "/proc/kcore"})
	}
	for _, l := range links {
		if err := r.symlink(log, l[0], l[1]); err != nil {
			return err
		}
	}
	return nil
}

// createDevice makes one device node: mknod, then chown.
func (r *root) createDevice(log *slog.Logger, d device) error {
	dfd, name, err := r.parent(d.path)
	if err != nil {
		return fmt.Errorf("create device %s: %w", d.path, err)
	}
	defer unix.Close(dfd)
	at := r.hostPath(d.path)

	// A node on a nodev mount can never be opened (EACCES): with no /dev
	// mount of its own, the nodes would sit on the root filesystem's
	// mount, and /tmp is often nodev. A bind mount of the host's node
	// carries its own mount flags instead.
	var fs unix.Statfs_t
	if err := unix.Fstatfs(dfd, &fs); err == nil && fs.Flags&unix.ST_NODEV != 0 {
		log.Debug("the mount holding "+d.path+" is nodev: bind the host's node", "at", at)
		if err := r.bindDevice(log, dfd, name, d, at); err != nil {
			return err
		}
		if r.ex.Enabled() {
			r.ex.Step(deviceStep(d, true))
		}
		return nil
	}
	dev := unix.Mkdev(uint32(d.major), uint32(d.minor))
	log.Debug(fmt.Sprintf("mknod(%q, %s, %d:%d)", d.path, modeString(d.mode), d.major, d.minor), "at", at)
	err = unix.Mknodat(dfd, name, d.mode, int(dev))
	switch err {
	case nil:
	case unix.EEXIST:
		// Already there: a rootfs that ships its own /dev, or a device
		// listed twice. runc keeps it too.
		log.Debug("device exists, kept", "path", d.path)
		return nil
	case unix.EPERM:
		// mknod is refused without CAP_MKNOD in the initial user
		// namespace (a rootless container): bind the host's node onto an
		// empty file instead. Its owner and mode stay the host's.
		if err := r.bindDevice(log, dfd, name, d, at); err != nil {
			return err
		}
		if r.ex.Enabled() {
			r.ex.Step(deviceStep(d, true))
		}
		return nil
	default:
		return fmt.Errorf("create device %s: %w", d.path, &os.PathError{Op: "mknod", Path: at, Err: err})
	}
	log.Debug(fmt.Sprintf("chown(%q, %d, %d)", d.path, d.uid, d.gid), "at", at)
	if err := unix.Fchownat(dfd, name, int(d.uid), int(d.gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("create device %s: %w", d.path, &os.PathError{Op: "chown", Path: at, Err: err})
	}
	if r.ex.Enabled() {
		r.ex.Step(deviceStep(d, false))
	}
	return nil
}

// bindDevice puts the host's node d.path over an empty file name in dfd.
func (r *root) bindDevice(log *slog.Logger, dfd int, name string, d device, at string) error {
	fd, err := unix.Openat(dfd, name, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("create device %s: %w", d.path, &os.PathError{Op: "create", Path: at, Err: err})
	}
	defer unix.Close(fd)
	if err := sysMount(log, d.path, procFd(fd), "", msBind, "", at); err != nil {
		return fmt.Errorf("mount %s on %s: %w", d.path, d.path, err)
	}
	return nil
}

// symlink creates the link name -> target inside the root. An existing
// entry is kept, except at /dev/ptmx: a node there would be the host's ptmx,
// not the container's devpts instance, so it is replaced.
func (r *root) symlink(log *slog.Logger, name, target string) error {
	dfd, base, err := r.parent(name)
	if err != nil {
		return fmt.Errorf("symlink %s: %w", name, err)
	}
	defer unix.Close(dfd)
	at := r.hostPath(name)
	if name == "/dev/ptmx" {
		var st unix.Stat_t
		if unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			log.Debug(fmt.Sprintf("unlink(%q)", name), "at", at)
			if err := unix.Unlinkat(dfd, base, 0); err != nil {
				return fmt.Errorf("symlink %s: %w", name, &os.PathError{Op: "unlink", Path: at, Err: err})
			}
		}
	}
	log.Debug(fmt.Sprintf("symlink(%q, %q)", target, name), "at", at)
	err = unix.Symlinkat(target, dfd, base)
	if err == unix.EEXIST {
		log.Debug("link exists, kept", "path", name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("symlink %s: %w", name, &os.PathError{Op: "symlink", Path: at, Err: err})
	}
	return nil
}
