package doctor

import (
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/rootfs"
)

// trialOverlay proves that overlayfs works with its layers in dir, the
// way a container's do in the store: it mounts a one-layer overlay with
// an upper and a work directory in a new temporary directory under dir,
// writes a file and deletes a lower one through it, and checks that the
// upper layer got the file and a whiteout (a character device 0/0). It
// removes the temporary directory before it returns.
//
// The mount is made in a mount namespace of its own, on a thread that
// exits afterwards: it never appears in the host's namespace, not even
// for a moment, and a doctor killed halfway leaves nothing mounted.
func trialOverlay(dir string) error {
	tmp, err := os.MkdirTemp(dir, ".minirun-doctor-")
	if err != nil {
		return fmt.Errorf("make trial directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	o := &rootfs.Overlay{
		Lower: []string{filepath.Join(tmp, "lower")},
		Upper: filepath.Join(tmp, "upper"),
		Work:  filepath.Join(tmp, "work"),
	}
	merged := filepath.Join(tmp, "merged")
	for _, d := range []string{o.Lower[0], o.Upper, o.Work, merged} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return fmt.Errorf("make trial directory: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(o.Lower[0], "old"), []byte("lower\n"), 0o600); err != nil {
		return fmt.Errorf("write trial layer: %w", err)
	}

	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the Go runtime ends a thread whose goroutine
		// exits while locked to it, and the private mount namespace
		// goes with that thread.
		goruntime.LockOSThread()
		errc <- inPrivateMounts(func() error {
			if err := rootfs.MountOverlay(merged, o); err != nil {
				return err
			}
			defer unix.Unmount(merged, unix.MNT_DETACH)
			if err := os.WriteFile(filepath.Join(merged, "new"), []byte("upper\n"), 0o600); err != nil {
				return fmt.Errorf("write through the overlay: %w", err)
			}
			if err := os.Remove(filepath.Join(merged, "old")); err != nil {
				return fmt.Errorf("delete through the overlay: %w", err)
			}
			return nil
		})
	}()
	if err := <-errc; err != nil {
		return err
	}

	if b, err := os.ReadFile(filepath.Join(o.Upper, "new")); err != nil || string(b) != "upper\n" {
		return fmt.Errorf("a file written through the overlay is not in its upper layer (%q, %v)", b, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(o.Upper, "old"), &st); err != nil {
		return fmt.Errorf("no whiteout in the upper layer for a deleted file: %w", &os.PathError{Op: "lstat", Path: filepath.Join(o.Upper, "old"), Err: err})
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		return fmt.Errorf("the whiteout of a deleted file is not a character device 0/0 (mode %#o, rdev %d)", st.Mode, st.Rdev)
	}
	return nil
}

// inPrivateMounts runs fn in a new mount namespace of the calling thread,
// which must be locked to it and never return to the Go scheduler's pool.
// unshare(2) with CLONE_NEWNS copies the mounts with their propagation,
// so / is made private first: on a host whose / is shared, a mount below
// would otherwise appear in the host's namespace too.
func inPrivateMounts(fn func() error) error {
	// CLONE_NEWNS implies CLONE_FS: the thread gets its own root and cwd,
	// which Go's threads otherwise share.
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return os.NewSyscallError("unshare(CLONE_NEWNS)", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return &os.PathError{Op: "make / rprivate", Path: "/", Err: err}
	}
	return fn()
}
