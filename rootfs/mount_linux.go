package rootfs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// Prepare builds the container's filesystem view under Config.Rootfs, in
// the new mount namespace and before Pivot: it makes the mount tree
// private, binds the rootfs onto itself (or mounts Config.Overlay on it),
// makes each mount of the spec in order, and fills /dev.
//
// Call it from the container's init, a process cloned with CLONE_NEWNS, so
// that all its threads share the new mount namespace. Nothing this package
// changes is per-thread: root, cwd and umask (changed for a moment and
// restored) belong to the fs_struct that Go's threads share, so the
// runtime's locked thread is its own convention, not a need of this
// package. But do not call it from a thread that did unshare(CLONE_FS):
// Pivot would then move that thread alone. The host's procfs must still be
// mounted at /proc (a fresh mount namespace is a copy of the host's):
// mounts go through /proc/self/fd. Bind sources are host paths; relative
// ones are taken from the cwd.
func Prepare(c *Config) error {
	plan, err := Plan(c)
	if err != nil {
		return err
	}
	var devs []device
	if setsUpDev(plan) {
		if devs, err = planDevices(c.Spec); err != nil {
			return err
		}
	}
	log := c.log()

	// 1. Cut propagation to the host. CLONE_NEWNS copied every mount with
	// its peer group, so on a host whose / is shared each mount below
	// would also appear on the host. MS_REC|MS_PRIVATE stops that both
	// ways, and pivot_root(2) refuses a shared new root or parent anyway.
	// linux.rootfsPropagation replaces the default here (runc does the
	// same) and is applied again to the new / by Finalize.
	prop := c.rootPropagation()
	if prop == 0 || prop&msUnbindable != 0 {
		// An unbindable tree could not be the source of the bind in step
		// 2 (EINVAL): it stays private here, and Finalize makes the new /
		// unbindable.
		prop = msRec | msPrivate
	}
	if err := sysMount(log, "", "/", "", prop, "", ""); err != nil {
		return fmt.Errorf("make / %s: %w", flagString(prop), err)
	}
	if c.Explain.Enabled() {
		st := mountStep("", "/", "", prop, "", false)
		st.Text += ": the host's mounts stop propagating to this namespace"
		st.Man, st.Fields["op"] = manPropagat, "propagation"
		c.Explain.Step(st)
	}
	if prop&msShared != 0 {
		// With / shared on purpose, at least the mount holding the rootfs
		// must be private: else the bind below propagates to the host, and
		// pivot_root fails with EINVAL on a shared parent.
		if err := privateParent(log, c.Rootfs); err != nil {
			return err
		}
	}

	// 2. pivot_root(2) needs new_root to be a mount point; a directory
	// inside some other mount is not. Binding the rootfs onto itself makes
	// it one (MS_REC keeps mounts the runtime made under it, e.g. volumes).
	// An overlay of image layers is a new mount on the (empty) rootfs, and
	// so a mount point too. Either comes only after step 1 cut propagation
	// to the host: the overlay then exists in this namespace alone and
	// dies with it, so even a crash leaves nothing mounted on the host.
	if c.Overlay != nil {
		if err := mountOverlay(log, c.Rootfs, c.Overlay); err != nil {
			return err
		}
		if c.Explain.Enabled() {
			c.Explain.Step(overlayStep(c.Overlay))
		}
	} else if err := sysMount(log, c.Rootfs, c.Rootfs, "", msBind|msRec, "", ""); err != nil {
		return fmt.Errorf("bind rootfs %s onto itself: %w", c.Rootfs, err)
	} else if c.Explain.Enabled() {
		st := mountStep(c.Rootfs, "/", "", msBind|msRec, "", false)
		st.Text = fmt.Sprintf("mount(%q, %q, \"\", MS_BIND|MS_REC, \"\"): the rootfs becomes a mount point, the container's / after pivot_root", c.Rootfs, c.Rootfs)
		c.Explain.Step(st)
	}
	r, err := openRoot(c.Rootfs)
	if err != nil {
		return err
	}
	defer r.close()
	r.ex = c.Explain

	// 3. The spec's mounts, in order: later ones may sit on earlier ones
	// (/dev/pts on the /dev tmpfs).
	for _, m := range plan {
		if err := r.mount(log, m); err != nil {
			return err
		}
	}

	// 4. Devices and links, once the /dev tmpfs (if any) is there.
	if devs != nil {
		if err := r.setupDev(log, devs); err != nil {
			return err
		}
	}
	return nil
}

// mount makes one planned mount inside the root.
func (r *root) mount(log *slog.Logger, m Mount) error {
	fail := func(err error) error {
		return fmt.Errorf("mount %s on %s: %w", m.Source, m.Target, err)
	}
	file := false
	if m.Bind {
		// The source is a host path the caller chose; it is resolved on
		// the host, symlinks and all.
		st, err := os.Stat(m.Source)
		if err != nil {
			return fail(err)
		}
		file = !st.IsDir()
	}
	fd, resolved, err := r.mkdirAll(m.Target, file)
	if err != nil {
		return fail(err)
	}
	defer unix.Close(fd)
	// A symlink in the rootfs may have led an innocent-looking
	// destination into /proc: check where it really is.
	if err := checkProcTarget(resolved, m.FSType); err != nil {
		return fail(fmt.Errorf("resolves to %s: %w", resolved, err))
	}
	at := r.hostPath(resolved)

	fallback := false
	err = sysMount(log, m.Source, procFd(fd), m.FSType, m.Flags, m.Data, at)
	if err != nil && m.Cgroup {
		// cgroup2 refused (e.g. in a user namespace without a cgroup
		// namespace of its own, or options it does not know): show the
		// host's hierarchy, read-only, instead.
		log.Debug("cgroup2 refused, binding the host's /sys/fs/cgroup instead", "err", err)
		fallback = true
		err = sysMount(log, "/sys/fs/cgroup", procFd(fd), "", msBind|msRec, "", at)
	}
	if err != nil {
		return fail(err)
	}
	if r.ex.Enabled() {
		if fallback {
			r.ex.Step(mountStep("/sys/fs/cgroup", resolved, "", msBind|msRec, "", false))
		} else {
			r.ex.Step(mountStep(m.Source, resolved, m.FSType, m.Flags, m.Data, false))
		}
	}
	if m.RemountFlags == 0 && len(m.PropagationFlags) == 0 && !fallback {
		return nil
	}

	nfd, err := r.reopen(resolved, fd)
	if err != nil {
		return fail(err)
	}
	defer unix.Close(nfd)
	if fallback {
		if err := readonlyTree(log, nfd, m.Flags, at); err != nil {
			return fail(err)
		}
		if r.ex.Enabled() {
			st := mountStep("", resolved, "", msBind|msRemount|msRdonly|m.Flags&(msNosuid|msNodev|msNoexec), "", false)
			st.Text = fmt.Sprintf("mount_setattr(%q, AT_RECURSIVE, MOUNT_ATTR_RDONLY): the host's cgroup tree, read-only", resolved)
			st.Man = "mount_setattr(2)"
			r.ex.Step(st)
		}
	}
	if m.RemountFlags != 0 {
		if err := remount(log, procFd(nfd), at, m.RemountFlags, m.ClearedFlags, false); err != nil {
			return fail(err)
		}
		if r.ex.Enabled() {
			// The kernel ignores all but MS_BIND|MS_REC on the mount(2)
			// that makes a bind: its flags take a second call.
			r.ex.Step(mountStep("", resolved, "", m.RemountFlags, "", false))
		}
	}
	for _, p := range m.PropagationFlags {
		if err := sysMount(log, "", procFd(nfd), "", p, "", at); err != nil {
			return fail(fmt.Errorf("set propagation %s: %w", flagString(p), err))
		}
		if r.ex.Enabled() {
			st := mountStep("", resolved, "", p, "", false)
			st.Man, st.Fields["op"] = manPropagat, "propagation"
			r.ex.Step(st)
		}
	}
	return nil
}

// readonlyTree makes the mount fd names, and every mount under it,
// read-only (plus nosuid/nodev/noexec if flags ask). A MS_REMOUNT would
// change only the top mount of an rbind; mount_setattr(2) with
// AT_RECURSIVE reaches the whole tree.
func readonlyTree(log *slog.Logger, fd int, flags uintptr, at string) error {
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	for _, f := range []struct {
		ms   uintptr
		attr uint64
	}{{msNosuid, unix.MOUNT_ATTR_NOSUID}, {msNodev, unix.MOUNT_ATTR_NODEV}, {msNoexec, unix.MOUNT_ATTR_NOEXEC}} {
		if flags&f.ms != 0 {
			attr.Attr_set |= f.attr
		}
	}
	log.Debug(fmt.Sprintf(`mount_setattr(%d, "", AT_EMPTY_PATH|AT_RECURSIVE, {attr_set: %#x})`, fd, attr.Attr_set), "at", at)
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
		return fmt.Errorf("mount_setattr: %w", err)
	}
	return nil
}

// remount sets the per-mount flags of the mount at target with
// MS_REMOUNT|MS_BIND, which replaces them all: a flag not passed is
// cleared. keep=true adds the mount's current flags first, for callers
// that only mean to add some (make it read-only). With keep=false, the
// flags are the spec's full wish; if the kernel answers EPERM because the
// source has flags locked (a mount inherited from a more privileged user
// namespace keeps its nosuid, nodev, ...), retry with the current flags
// added, unless the spec explicitly asked to clear one of those.
func remount(log *slog.Logger, target, at string, flags, cleared uintptr, keep bool) error {
	if keep {
		cur, err := currentFlags(target)
		if err != nil {
			return err
		}
		flags |= cur
	}
	err := sysMount(log, "", target, "", flags, "", at)
	if err == nil || keep || !errors.Is(err, unix.EPERM) {
		return err
	}
	cur, serr := currentFlags(target)
	if serr != nil {
		return errors.Join(err, serr)
	}
	if cur&cleared != 0 {
		return fmt.Errorf("%w (the source mount has %s locked, and the options clear it)", err, flagString(cur&cleared))
	}
	return sysMount(log, "", target, "", flags|cur, "", at)
}

// Flags statfs(2) reports in f_flags (<linux/statfs.h>); x/sys/unix does
// not define the ST_ names for Linux.
var statfsFlags = []struct {
	st int64
	ms uintptr
}{
	{0x1, msRdonly},         // ST_RDONLY
	{0x2, msNosuid},         // ST_NOSUID
	{0x4, msNodev},          // ST_NODEV
	{0x8, msNoexec},         // ST_NOEXEC
	{0x400, msNoatime},      // ST_NOATIME
	{0x800, msNodiratime},   // ST_NODIRATIME
	{0x1000, msRelatime},    // ST_RELATIME
	{0x2000, msNosymfollow}, // ST_NOSYMFOLLOW
}

// currentFlags returns the per-mount flags of the mount at target as MS_
// flags, read with statfs(2).
func currentFlags(target string) (uintptr, error) {
	var s unix.Statfs_t
	if err := unix.Statfs(target, &s); err != nil {
		return 0, &os.PathError{Op: "statfs", Path: target, Err: err}
	}
	var flags uintptr
	for _, f := range statfsFlags {
		if int64(s.Flags)&f.st != 0 {
			flags |= f.ms
		}
	}
	return flags, nil
}

// privateParent makes the mount that holds dir private: the first of dir
// and its parents that is a mount root (statx STATX_ATTR_MOUNT_ROOT).
func privateParent(log *slog.Logger, dir string) error {
	for {
		var stx unix.Statx_t
		err := unix.Statx(unix.AT_FDCWD, dir, unix.AT_SYMLINK_NOFOLLOW, 0, &stx)
		if err != nil {
			return &os.PathError{Op: "statx", Path: dir, Err: err}
		}
		known := stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0
		if dir == "/" || !known || stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0 {
			if err := sysMount(log, "", dir, "", msPrivate, "", ""); err != nil {
				return fmt.Errorf("make %s private: %w", dir, err)
			}
			return nil
		}
		dir = path.Dir(dir)
	}
}

// sysMount is mount(2), logged first in the kernel's terms. at, when not
// "", says in the log where a /proc/self/fd/N target really is.
func sysMount(log *slog.Logger, source, target, fstype string, flags uintptr, data, at string) error {
	msg := fmt.Sprintf("mount(%q, %q, %q, %s, %q)", source, target, fstype, flagString(flags), data)
	if at != "" && at != target {
		log.Debug(msg, "at", at)
	} else {
		log.Debug(msg)
	}
	return unix.Mount(source, target, fstype, flags, data)
}
