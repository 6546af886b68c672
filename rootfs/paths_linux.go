package rootfs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"

	"golang.org/x/sys/unix"
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
			if err := readonlyPath(log, path.Join("/", p)); err != nil {
				return err
			}
		}
		for _, p := range l.MaskedPaths {
			if err := maskPath(log, path.Join("/", p)); err != nil {
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
	}
	if prop := c.rootPropagation(); prop != 0 {
		if err := sysMount(log, "", "/", "", prop, "", ""); err != nil {
			return fmt.Errorf("make / %s: %w", flagString(prop), err)
		}
	}
	return nil
}

// readonlyPath binds p onto itself and makes that mount read-only, keeping
// its other flags (procfs is nosuid,nodev,noexec). A missing p is skipped:
// the lists name files not every kernel has.
func readonlyPath(log *slog.Logger, p string) error {
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
	return nil
}

// maskPath hides p: a file under a bind of /dev/null (reads empty, writes
// vanish), a directory under an empty read-only tmpfs. A missing p is
// skipped.
func maskPath(log *slog.Logger, p string) error {
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
		return nil
	}
	if err := sysMount(log, "/dev/null", p, "", msBind, "", ""); err != nil {
		return fmt.Errorf("mount /dev/null on %s: %w", p, err)
	}
	return nil
}
