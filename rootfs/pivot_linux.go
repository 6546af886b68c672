package rootfs

import (
	"fmt"
	"log/slog"
	"os"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/explain"
)

// Pivot makes Config.Rootfs the new / of the mount namespace, after
// Prepare. The cwd may be anywhere when it is called; it leaves the cwd at
// the new /. With NoPivot it moves the rootfs onto / and chroots instead.
func Pivot(c *Config) error {
	if err := c.check(); err != nil {
		return err
	}
	if c.NoPivot {
		if err := moveRoot(c.log(), c.Rootfs); err != nil {
			return err
		}
		c.Explain.Stepf(explain.PhasePivot, manChroot, "mount(%q, \"/\", \"\", MS_MOVE, \"\"), chroot(\".\"): no pivot_root, the old root stays underneath", c.Rootfs)
		return nil
	}
	if err := pivotRoot(c.log(), c.Rootfs); err != nil {
		return err
	}
	if c.Explain.Enabled() {
		c.Explain.Step(explain.Step{Phase: explain.PhasePivot, Man: manPivot,
			Text:   fmt.Sprintf("chdir(%q), pivot_root(\".\", \".\"): the rootfs becomes /, the old root is stacked on it", c.Rootfs),
			Fields: map[string]any{"op": "pivot_root", "new_root": c.Rootfs}})
		c.Explain.Step(explain.Step{Phase: explain.PhasePivot, Man: manUmount,
			Text:   `mount("", ".", "", MS_SLAVE|MS_REC, ""), umount2(".", MNT_DETACH): the old root (the host's /) leaves the namespace`,
			Fields: map[string]any{"op": "umount", "target": "old root"}})
	}
	return nil
}

// pivotRoot swaps the root mount of the namespace for rootfs and detaches
// the old one, so that no path in the container leads to the host's files.
func pivotRoot(log *slog.Logger, rootfs string) error {
	// Held to come back to the old root once it is stacked under the new
	// one; closed before return so that no host fd survives into the
	// container.
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: "/", Err: err}
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(rootfs, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: rootfs, Err: err}
	}
	defer unix.Close(newroot)

	log.Debug(fmt.Sprintf("fchdir(%d)", newroot), "at", rootfs)
	if err := unix.Fchdir(newroot); err != nil {
		return &os.PathError{Op: "fchdir", Path: rootfs, Err: err}
	}
	// pivot_root(".", ".") needs no directory for the old root inside the
	// new one (which would have to exist in the image): the kernel mounts
	// the old root on top of the new one, at the same place. pivot_root(2)
	// documents this form.
	log.Debug(`pivot_root(".", ".")`, "at", rootfs)
	if err := unix.PivotRoot(".", "."); err != nil {
		return &os.PathError{Op: "pivot_root", Path: rootfs, Err: err}
	}
	// Our cwd is now under the old root, stacked on top; the kernel does
	// not promise which, so go to the old root explicitly.
	log.Debug(fmt.Sprintf("fchdir(%d)", oldroot), "at", "old root")
	if err := unix.Fchdir(oldroot); err != nil {
		return &os.PathError{Op: "fchdir", Path: "old root", Err: err}
	}
	// Before taking the old root away: if its mounts are still shared with
	// the host (rootfsPropagation "shared"), the unmount below would
	// propagate there and tear down the host's own mounts. As a slave it
	// still receives events but sends none. (rslave rather than rprivate,
	// like runc: a private copy could keep a host mount busy.)
	if err := sysMount(log, "", ".", "", msSlave|msRec, "", "old root"); err != nil {
		return fmt.Errorf("make old root rslave: %w", err)
	}
	// MNT_DETACH: the old root is busy (we stand in it); a lazy unmount
	// takes it out of the namespace now and frees it when unused.
	log.Debug(`umount2(".", MNT_DETACH)`, "at", "old root")
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return &os.PathError{Op: "umount2", Path: "old root", Err: err}
	}
	log.Debug(`chdir("/")`)
	if err := unix.Chdir("/"); err != nil {
		return &os.PathError{Op: "chdir", Path: "/", Err: err}
	}
	return nil
}

// moveRoot is the fallback for a host running from its initramfs:
// pivot_root(2) fails there with EINVAL, because the initramfs is the
// kernel's "rootfs", the mount at the very bottom of the tree, which can
// never be unmounted, and pivot_root refuses to move it. Moving the rootfs
// over / and chrooting into it works everywhere, but is weaker: the old
// root is still in the namespace, under the new one, and a process that
// keeps CAP_SYS_CHROOT can chroot its way back out. Prefer pivot_root.
func moveRoot(log *slog.Logger, rootfs string) error {
	log.Debug(fmt.Sprintf("chdir(%q)", rootfs))
	if err := unix.Chdir(rootfs); err != nil {
		return &os.PathError{Op: "chdir", Path: rootfs, Err: err}
	}
	if err := sysMount(log, rootfs, "/", "", msMove, "", ""); err != nil {
		return fmt.Errorf("move %s to /: %w", rootfs, err)
	}
	// The cwd followed the mount it is on; make it the root too.
	log.Debug(`chroot(".")`)
	if err := unix.Chroot("."); err != nil {
		return &os.PathError{Op: "chroot", Path: rootfs, Err: err}
	}
	log.Debug(`chdir("/")`)
	if err := unix.Chdir("/"); err != nil {
		return &os.PathError{Op: "chdir", Path: "/", Err: err}
	}
	return nil
}
