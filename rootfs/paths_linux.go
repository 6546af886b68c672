package rootfs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/explain"
)

// Finalize runs after Pivot (and after the runtime has written
// linux.sysctl, which needs /proc/sys still writable): it makes the
// read-only paths read-only, masks the masked paths, makes / read-only if
// root.readonly, and applies linux.rootfsPropagation to /.
//
// Paths here are plain strings: after pivot_root, / is the container's
// root and no path can lead out of it, and the paths name procfs and
// sysfs files that the image cannot replace.
func Finalize(c *Config) error {
	if err := c.check(); err != nil {
		return err
	}
	log := c.log()
	if l := c.Spec.Linux; l != nil {
		// Read-only paths before masked ones: the recursive bind of a
		// read-only path (/proc/sys) then carries no mask under it that a
		// later non-recursive step could hide, and a mask may land inside
		// a read-only tree.
		for _, p := range l.ReadonlyPaths {
			if err := readonlyPath(log, c.Explain, path.Join("/", p)); err != nil {
				return err
			}
		}
		for _, p := range l.MaskedPaths {
			if err := maskPath(log, c.Explain, path.Join("/", p)); err != nil {
				return err
			}
		}
	}
	if c.Spec.Root != nil && c.Spec.Root.Readonly {
		// The root is the rootfs bind mount; a read-only remount of it
		// leaves the mounts on top of it (/dev, /tmp volumes) writable.
		if err := remount(log, "/", "", msBind|msRemount|msRdonly, 0, true); err != nil {
			return fmt.Errorf("make / read-only: %w", err)
		}
		if c.Explain.Enabled() {
			c.Explain.Step(mountStep("", "/", "", msBind|msRemount|msRdonly, "", true))
		}
	}
	if prop := c.rootPropagation(); prop != 0 {
		if err := sysMount(log, "", "/", "", prop, "", ""); err != nil {
			return fmt.Errorf("make / %s: %w", flagString(prop), err)
		}
		if c.Explain.Enabled() {
			st := mountStep("", "/", "", prop, "", false)
			st.Man, st.Fields["op"] = manPropagat, "propagation"
			c.Explain.Step(st)
		}
	}
	return nil
}

// readonlyPath binds p onto itself and makes that mount read-only, keeping
// its other flags (procfs is nosuid,nodev,noexec). A missing p is skipped:
// the lists name files not every kernel has.
func readonlyPath(log *slog.Logger, ex *explain.Sink, p string) error {
	err := sysMount(log, p, p, "", msBind|msRec, "", "")
	if errors.Is(err, unix.ENOENT) {
		log.Debug("read-only path does not exist, skipped", "path", p)
		return nil
	}
	if err != nil {
		return fmt.Errorf("mount %s on %s: %w", p, p, err)
	}
	if err := remount(log, p, "", msBind|msRemount|msRdonly, 0, true); err != nil {
		return fmt.Errorf("make %s read-only: %w", p, err)
	}
	if ex.Enabled() {
		ex.Step(mountStep(p, p, "", msBind|msRec, "", false))
		st := mountStep("", p, "", msBind|msRemount|msRdonly, "", true)
		st.Text += ": a read-only path (linux.readonlyPaths)"
		ex.Step(st)
	}
	return nil
}

// maskPath hides p: a file under a bind of /dev/null (reads empty, writes
// vanish), a directory under an empty read-only tmpfs. A missing p is
// skipped.
func maskPath(log *slog.Logger, ex *explain.Sink, p string) error {
	st, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		log.Debug("masked path does not exist, skipped", "path", p)
		return nil
	}
	if err != nil {
		return fmt.Errorf("mask %s: %w", p, err)
	}
	if st.IsDir() {
		// Read-only is what keeps it empty: for tmpfs "size=0" would mean
		// "no limit", not "no room".
		flags := msRdonly | msNosuid | msNodev | msNoexec
		if err := sysMount(log, "tmpfs", p, "tmpfs", flags, "", ""); err != nil {
			return fmt.Errorf("mount tmpfs on %s: %w", p, err)
		}
		if ex.Enabled() {
			st := mountStep("tmpfs", p, "tmpfs", flags, "", false)
			st.Text += ": a masked directory (linux.maskedPaths)"
			ex.Step(st)
		}
		return nil
	}
	if err := maskFile(log, p); err != nil {
		return fmt.Errorf("mask %s: %w", p, err)
	}
	if ex.Enabled() {
		// A bind of /dev/null: devtmpfs or the /dev tmpfs, so the fstype
		// mountinfo shows is that of the container's /dev.
		st := mountStep("/dev/null", p, "", msBind, "", false)
		st.Text = fmt.Sprintf("open_tree(\"/dev/null\", OPEN_TREE_CLONE), move_mount onto %q: a masked file (linux.maskedPaths)", p)
		st.Man = manMask
		ex.Step(st)
	}
	return nil
}

// errNotNull is why a file is not masked: the container's /dev/null is
// something else than the null device.
var errNotNull = errors.New("the container's /dev/null is not the null device (1:3)")

// maskFile binds the container's /dev/null over the file p, once it is
// proven to be the null device.
//
// /dev/null is the container's: the rootfs's own when the spec mounts no
// tmpfs on /dev, and an image may ship it as a symlink. mount(2) would
// follow that link and bind its target over p instead: a proc file the
// spec means to mask (/proc/timer_list over itself), or a host file a
// volume brings in (CVE-2025-31133 in runc). So /dev/null is opened
// without following links, checked to be the character device 1:3, and
// that very inode is bound, from an fd: open_tree(2) clones a detached
// bind mount of it, and move_mount(2) puts it on p, itself held open
// (O_PATH) so that nothing is looked up twice. A container whose
// /dev/null fails the check is refused: masking it with anything else
// would hide the problem.
func maskFile(log *slog.Logger, p string) error {
	null, err := unix.Open("/dev/null", unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: "/dev/null", Err: err}
	}
	defer unix.Close(null)
	var st unix.Stat_t
	if err := unix.Fstat(null, &st); err != nil {
		return &os.PathError{Op: "fstat", Path: "/dev/null", Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 {
		return fmt.Errorf("%w: it is %s", errNotNull, describeMode(st))
	}
	target, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: p, Err: err}
	}
	defer unix.Close(target)
	log.Debug(`open_tree(/dev/null, OPEN_TREE_CLONE), move_mount onto ` + p)
	tree, err := unix.OpenTree(null, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
	if err != nil {
		return &os.PathError{Op: "open_tree", Path: "/dev/null", Err: err}
	}
	defer unix.Close(tree)
	if err := unix.MoveMount(tree, "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return &os.PathError{Op: "move_mount /dev/null onto", Path: p, Err: err}
	}
	return nil
}

// describeMode names a file's type for an error: "a symlink", "a
// character device 1:5".
func describeMode(st unix.Stat_t) string {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		return "a symlink"
	case unix.S_IFCHR:
		return fmt.Sprintf("a character device %d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	case unix.S_IFBLK:
		return fmt.Sprintf("a block device %d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFREG:
		return "a regular file"
	}
	return fmt.Sprintf("of mode %#o", st.Mode)
}
