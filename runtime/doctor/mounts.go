package doctor

import (
	"fmt"
	"path"
	"strings"

	"github.com/minirun/minirun/rootfs"
)

// mount is one line of /proc/self/mountinfo.
type mount = rootfs.MountInfo

// mountAt returns the mount that holds p, an absolute clean path: the one
// with the longest mount point above p, and of several at one point the
// last listed, which is the one on top.
func mountAt(ms []mount, p string) (mount, bool) {
	var best mount
	found := false
	for _, m := range ms {
		if !under(p, m.Point) {
			continue
		}
		if !found || len(m.Point) >= len(best.Point) {
			best, found = m, true
		}
	}
	return best, found
}

// under reports whether p is dir or below it.
func under(p, dir string) bool {
	return dir == "/" || p == dir || strings.HasPrefix(p, dir+"/")
}

func checkRoot(ms []mount, err error) Finding {
	f := Finding{Check: "root"}
	if err != nil {
		f.Status, f.Message = Warn, fmt.Sprintf("cannot tell what / is: %v", err)
		return f
	}
	m, ok := mountAt(ms, "/")
	if !ok {
		f.Status, f.Message = Warn, "cannot tell what / is: no mount at / in /proc/self/mountinfo"
		return f
	}
	if m.FSType == "rootfs" {
		f.Status = Fail
		f.Message = "/ is the initramfs (the kernel's rootfs), which can never be unmounted, so pivot_root(2) fails with EINVAL: image runs fail, and bundles need --no-pivot (MS_MOVE and chroot, weaker)"
		f.Fix = "minirun run --no-pivot --bundle DIR ID for a bundle; for everything, boot with a root filesystem on a disk, or copy / into a tmpfs and switch_root(8) into it from the initramfs's init"
		return f
	}
	f.Status = OK
	f.Message = fmt.Sprintf("/ is %s (%s): pivot_root works", m.FSType, m.Source)
	return f
}

func checkPropagation(ms []mount, err error) Finding {
	f := Finding{Check: "propagation"}
	if err != nil {
		f.Status, f.Message = Warn, fmt.Sprintf("cannot tell how / propagates: %v", err)
		return f
	}
	m, ok := mountAt(ms, "/")
	if !ok {
		f.Status, f.Message = Warn, "cannot tell how / propagates: no mount at / in /proc/self/mountinfo"
		return f
	}
	for _, o := range m.Optional {
		if group, ok := strings.CutPrefix(o, "shared:"); ok {
			f.Status = OK
			f.Message = fmt.Sprintf("/ is shared (peer group %s); minirun makes it private in each container's mount namespace before mounting anything, so no container mount reaches the host", group)
			return f
		}
	}
	for _, o := range m.Optional {
		if group, ok := strings.CutPrefix(o, "master:"); ok {
			f.Status = Info
			f.Message = fmt.Sprintf("/ is a slave of peer group %s: mounts its master makes reach containers, mounts made here do not, whatever propagation a bind mount asks", group)
			f.Fix = "mount --make-rshared / (what systemd does at boot)"
			return f
		}
	}
	f.Status = Info
	f.Message = "/ is private: mounts made on the host after a container starts never reach it, whatever propagation a bind mount asks (rshared, rslave); minirun itself needs nothing more"
	f.Fix = "mount --make-rshared / (what systemd does at boot)"
	return f
}

// OverlayTrial is the outcome of mounting a small overlay in the store's
// filesystem.
type OverlayTrial struct {
	// Store is the image store's directory, as configured.
	Store string
	// Dir is where the trial was made: in the store, or its nearest
	// existing ancestor.
	Dir string
	// FSType is the type of the filesystem that holds Dir.
	FSType string
	// Tried is false when the doctor may not mount (it is not root).
	Tried bool
	// Err is nil when the overlay mounted, took a new file and whited out
	// a lower one.
	Err error
}

func checkOverlay(t OverlayTrial, filesystems File) Finding {
	f := Finding{Check: "overlay"}
	listed := false
	for line := range strings.Lines(filesystems.Data) {
		if fs := strings.Fields(line); len(fs) > 0 && fs[len(fs)-1] == "overlay" {
			listed = true
		}
	}
	fstype := t.FSType
	if fstype == "" {
		fstype = "unknown type"
	}
	switch {
	case t.Tried && t.Err == nil:
		f.Status = OK
		f.Message = fmt.Sprintf("a trial overlay on the store's filesystem (%s) mounted, copied up and whited out", fstype)
		if t.FSType == "overlay" {
			f.Message += " (an overlay on an overlay)"
		}
	case t.Tried && t.FSType == "overlay":
		f.Status = Fail
		f.Message = fmt.Sprintf("the store %s is itself on an overlayfs (is minirun in a container?), which overlayfs does not take as an upper layer (%v): image runs fail, bundles still work", t.Store, t.Err)
		f.Fix = fmt.Sprintf("give the store a filesystem of its own: mount -t tmpfs tmpfs %s, or a volume (docker run -v /var/lib/minirun), or --store DIR on one", t.Store)
	case t.Tried && !listed:
		f.Status = Fail
		f.Message = fmt.Sprintf("the kernel has no overlayfs (not in /proc/filesystems; the trial mount said: %v): image runs fail, bundles still work", t.Err)
		f.Fix = "modprobe overlay"
	case t.Tried:
		f.Status = Fail
		f.Message = fmt.Sprintf("a trial overlay in %s (%s) failed: %v: image runs fail, bundles still work", t.Dir, fstype, t.Err)
		f.Fix = "put the store on ext4, xfs, btrfs or tmpfs (an upper layer needs xattrs and whiteouts): --store DIR or MINIRUN_STORE=DIR"
	case listed:
		f.Status = Info
		f.Message = "overlay is in /proc/filesystems; only root may mount the trial overlay that proves the store's filesystem takes it"
		f.Fix = "sudo minirun doctor"
	default:
		f.Status = Warn
		f.Message = "overlay is not in /proc/filesystems (the module may load at the first mount; run the doctor as root to try one)"
		f.Fix = "modprobe overlay"
	}
	return f
}

// StoreInput is what statfs(2) and access(2) say of the image store.
type StoreInput struct {
	// Path is the store's directory as configured; Dir is Path, or its
	// nearest existing ancestor when Path does not exist yet.
	Path, Dir string
	// Mount is the mount point of the filesystem holding Dir, FSType its
	// type.
	Mount, FSType string
	// Avail is the bytes free to minirun (f_bavail), Size the
	// filesystem's.
	Avail, Size uint64
	ReadOnly    bool // ST_RDONLY
	Writable    bool // access(Dir, W_OK)
	Err         error
}

// lowSpace is where the store check starts to warn: below it, one pull
// of a large image or a container's writes fill the filesystem.
const lowSpace = 1 << 30

func checkStore(s StoreInput) Finding {
	f := Finding{Check: "store"}
	if s.Err != nil {
		f.Status, f.Message = Warn, fmt.Sprintf("cannot look at the store %s: %v", s.Path, s.Err)
		return f
	}
	where := fmt.Sprintf("%s (%s on %s)", s.Path, s.FSType, s.Mount)
	if path.Clean(s.Dir) != path.Clean(s.Path) {
		where = fmt.Sprintf("%s (not made yet; %s is %s on %s)", s.Path, s.Dir, s.FSType, s.Mount)
	}
	switch {
	case s.ReadOnly:
		f.Status = Fail
		f.Message = fmt.Sprintf("%s is on a read-only filesystem: pulls and image runs fail", where)
		f.Fix = fmt.Sprintf("mount -o remount,rw %s, or --store DIR (MINIRUN_STORE=DIR) on a writable filesystem", s.Mount)
	case !s.Writable:
		f.Status = Fail
		f.Message = fmt.Sprintf("%s is not writable by this user: pulls and image runs fail", where)
		f.Fix = "run minirun as root (sudo minirun ...)"
	case s.Avail < lowSpace:
		f.Status = Warn
		f.Message = fmt.Sprintf("%s has only %s free: a pull or a container's writes may fill it", where, bytesString(s.Avail))
		f.Fix = "minirun image prune; minirun rmi IMAGE and minirun rm ID for what you no longer need; or --store DIR on a larger filesystem"
	default:
		f.Status = OK
		f.Message = fmt.Sprintf("%s: %s free of %s", where, bytesString(s.Avail), bytesString(s.Size))
	}
	return f
}

// bytesString writes n in binary units, as df -h does.
func bytesString(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	v, i := float64(n), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}
