package rootfs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minirun/minirun/internal/explain"
)

// Config is what the container's init knows about its filesystem view.
type Config struct {
	// Rootfs is the absolute host path of the root filesystem, already
	// resolved (no symlinks in it).
	Rootfs string
	// Overlay, when set, is mounted on Rootfs (an empty directory) in
	// place of binding Rootfs onto itself: the root is then made of these
	// layers.
	Overlay *Overlay
	// Spec supplies Mounts, Root.Readonly and Linux.Devices, MaskedPaths,
	// ReadonlyPaths and RootfsPropagation. Linux.MountLabel is ignored: this
	// kernel has no SELinux.
	Spec *specs.Spec
	// NoPivot uses MS_MOVE and chroot(2) instead of pivot_root(2), for a
	// host whose / is the initramfs (see Pivot).
	NoPivot bool
	// Log receives, at Debug level, one line per kernel-level step, written
	// as the system call it makes.
	Log *slog.Logger
	// Explain receives each mount, device, masked and read-only path and
	// the pivot_root as it is made, with the container's view of the
	// target (--explain). nil: none.
	Explain *explain.Sink
}

// Mount is one mount Prepare makes, as data.
type Mount struct {
	// Source is a host path for a bind mount, else the name the
	// filesystem shows in /proc/self/mountinfo ("proc", "tmpfs", "shm").
	Source string
	// Target is the absolute, clean path inside the container ("/dev/pts").
	// Prepare resolves it inside Config.Rootfs, never through a symlink
	// that leads out of it.
	Target string
	// FSType is the filesystem type for mount(2); "" for a bind mount.
	FSType string
	// Flags is the flags argument of the first mount(2).
	Flags uintptr
	// Data is the data argument: the options that are not flags.
	Data string
	// PropagationFlags are applied after the mount, each by its own
	// mount("", target, "", flag, ""): the kernel takes a propagation
	// change alone or not at all.
	PropagationFlags []uintptr

	// Bind is true for a bind mount (type "bind", or a bind/rbind option).
	Bind bool
	// Recursive is true for rbind: the submounts under Source come along.
	Recursive bool
	// RemountFlags, when not 0, are the flags of a second call,
	// mount("", target, "", RemountFlags, ""). The kernel ignores every
	// flag but MS_BIND|MS_REC on the mount(2) that creates a bind mount,
	// so ro, nosuid, nodev, noexec and the atime flags of a bind only take
	// effect through MS_REMOUNT|MS_BIND. It changes only the top mount,
	// not the submounts an rbind brought along.
	RemountFlags uintptr
	// ClearedFlags are flags the options explicitly turned off ("rw",
	// "suid", ...). When a remount fails with EPERM because the source
	// mount has locked flags, Prepare retries with the source's flags
	// added, but never these.
	ClearedFlags uintptr
	// Cgroup marks a "cgroup" or "cgroup2" mount: Prepare mounts cgroup2
	// and, if the kernel refuses, binds the host's /sys/fs/cgroup instead.
	Cgroup bool
}

// Plan describes the mounts of spec.Mounts that Prepare will make, in order,
// as data (pure; no syscalls). Before them Prepare makes / private (or as
// linux.rootfsPropagation says) and binds Rootfs onto itself, or mounts
// Config.Overlay on it; after them it creates the /dev devices and links.
func Plan(c *Config) ([]Mount, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	plan := make([]Mount, 0, len(c.Spec.Mounts))
	for _, sm := range c.Spec.Mounts {
		m, err := planMount(sm)
		if err != nil {
			return nil, err
		}
		plan = append(plan, m)
	}
	return plan, nil
}

func planMount(sm specs.Mount) (Mount, error) {
	if sm.Destination == "" {
		return Mount{}, fmt.Errorf("mount %s: no destination", sm.Source)
	}
	// OCI requires an absolute destination; runc reads a relative one as
	// relative to /, and so does minirun.
	target := path.Join("/", sm.Destination)
	if target == "/" {
		return Mount{}, fmt.Errorf("mount %s on /: the root is root.path, not a mount", sm.Source)
	}
	o := parseOptions(sm.Options)
	m := Mount{
		Source:           sm.Source,
		Target:           target,
		FSType:           sm.Type,
		Data:             o.data,
		PropagationFlags: o.propagation,
		ClearedFlags:     o.cleared,
	}
	switch {
	case sm.Type == "bind" || o.flags&msBind != 0:
		if sm.Source == "" {
			return Mount{}, fmt.Errorf("mount on %s: a bind mount needs a source", target)
		}
		m.Bind, m.Recursive = true, o.flags&msRec != 0
		m.FSType = ""
		// The kernel ignores data on a bind mount; so do we.
		m.Data = ""
		m.Flags = msBind | o.flags&msRec
		if extra := o.flags &^ (msBind | msRec | msRemount); extra != 0 {
			m.RemountFlags = msRemount | msBind | extra
		}
	case sm.Type == "cgroup" || sm.Type == "cgroup2":
		// runc's specs still say "cgroup" (v1) here. minirun always asks for
		// cgroup2: the unified hierarchy exists on every kernel it supports,
		// and inside a cgroup namespace it shows the container's own subtree.
		// Mounting a tmpfs with bind mounts of each v1 hierarchy, as runc
		// does on v1 hosts, is left out on purpose to keep this small; if
		// cgroup2 cannot be mounted, Prepare binds the host's /sys/fs/cgroup
		// read-only and recursively instead.
		m.Cgroup = true
		m.FSType = "cgroup2"
		m.Flags = o.flags
		if m.Source == "" || m.Source == "cgroup" {
			m.Source = "cgroup2"
		}
	default:
		if sm.Type == "" {
			return Mount{}, fmt.Errorf("mount %s on %s: no type and no bind option", sm.Source, target)
		}
		m.Flags = o.flags
		if m.Source == "" {
			m.Source = sm.Type
		}
	}
	if err := checkProcTarget(target, m.FSType); err != nil {
		return Mount{}, fmt.Errorf("mount %s on %s: %w", m.Source, target, err)
	}
	return m, nil
}

// procAllowed are the files under /proc a mount may cover: lxcfs puts
// container-aware versions of them there. The list is runc's.
var procAllowed = []string{
	"/proc/cpuinfo",
	"/proc/diskstats",
	"/proc/meminfo",
	"/proc/stat",
	"/proc/swaps",
	"/proc/uptime",
	"/proc/loadavg",
	"/proc/slabinfo",
	"/proc/net/dev",
	"/proc/sys/kernel/ns_last_pid",
}

// errProcTarget is returned for a mount that would cover /proc, or a file
// in it, with something other than procfs. Such a mount can hide the
// masked and read-only paths, or hand the container a writable
// /proc/sys or /proc/self/attr: the root of CVE-2019-16884 and
// CVE-2019-19921. Prepare checks the target again once symlinks in the
// rootfs are resolved.
var errProcTarget = errors.New("only procfs may be mounted on /proc, and nothing inside it but a few lxcfs files")

func checkProcTarget(target, fstype string) error {
	if target == "/proc" {
		if fstype == "proc" {
			return nil
		}
		return errProcTarget
	}
	if strings.HasPrefix(target, "/proc/") && !slices.Contains(procAllowed, target) {
		return errProcTarget
	}
	return nil
}

// device is one device node to create under the container's /dev.
type device struct {
	path         string // absolute, inside the container
	mode         uint32 // file type (S_IFCHR, S_IFBLK, S_IFIFO) | permissions
	major, minor int64
	uid, gid     uint32
}

// File type bits of st_mode (<sys/stat.h>); flags_linux_test.go checks them.
const (
	sIFIFO uint32 = 0o010000
	sIFCHR uint32 = 0o020000
	sIFBLK uint32 = 0o060000
)

// modeString writes a device's st_mode as mknod(2) takes it: "S_IFCHR|0666".
func modeString(mode uint32) string {
	t := "S_IF?"
	switch mode &^ 0o7777 {
	case sIFCHR:
		t = "S_IFCHR"
	case sIFBLK:
		t = "S_IFBLK"
	case sIFIFO:
		t = "S_IFIFO"
	}
	return fmt.Sprintf("%s|%04o", t, mode&0o7777)
}

// defaultDevices are the devices runtime-spec's "Default Devices" requires
// in every container, all world-readable and -writable and owned by root.
var defaultDevices = []device{
	{"/dev/null", sIFCHR | 0o666, 1, 3, 0, 0},
	{"/dev/zero", sIFCHR | 0o666, 1, 5, 0, 0},
	{"/dev/full", sIFCHR | 0o666, 1, 7, 0, 0},
	{"/dev/random", sIFCHR | 0o666, 1, 8, 0, 0},
	{"/dev/urandom", sIFCHR | 0o666, 1, 9, 0, 0},
	{"/dev/tty", sIFCHR | 0o666, 5, 0, 0, 0},
}

// planDevices lists the device nodes to create: the defaults, then
// linux.devices; an entry of linux.devices replaces a default at the same
// path.
func planDevices(spec *specs.Spec) ([]device, error) {
	var extra []device
	if spec.Linux != nil {
		for _, d := range spec.Linux.Devices {
			dev, err := specDevice(d)
			if err != nil {
				return nil, err
			}
			extra = append(extra, dev)
		}
	}
	var devs []device
	for _, d := range defaultDevices {
		if !slices.ContainsFunc(extra, func(e device) bool { return e.path == d.path }) {
			devs = append(devs, d)
		}
	}
	return append(devs, extra...), nil
}

func specDevice(d specs.LinuxDevice) (device, error) {
	p := path.Clean(d.Path)
	if !path.IsAbs(p) || p == "/" {
		return device{}, fmt.Errorf("create device %q: path must be absolute", d.Path)
	}
	dev := device{path: p, major: d.Major, minor: d.Minor}
	switch d.Type {
	case "c", "u":
		dev.mode = sIFCHR
	case "b":
		dev.mode = sIFBLK
	case "p":
		dev.mode, dev.major, dev.minor = sIFIFO, 0, 0
	default:
		return device{}, fmt.Errorf("create device %s: unknown type %q", p, d.Type)
	}
	// runc's default when fileMode is absent; the devices cgroup, not the
	// mode, is what limits access.
	perm := uint32(0o666)
	if d.FileMode != nil {
		perm = unixPerm(*d.FileMode)
	}
	dev.mode |= perm
	if d.UID != nil {
		dev.uid = *d.UID
	}
	if d.GID != nil {
		dev.gid = *d.GID
	}
	return dev, nil
}

// unixPerm converts Go's os.FileMode, which keeps setuid, setgid and sticky
// in bits of its own, to the low 12 bits of a Unix st_mode.
func unixPerm(m os.FileMode) uint32 {
	p := uint32(m.Perm())
	if m&os.ModeSetuid != 0 {
		p |= 0o4000
	}
	if m&os.ModeSetgid != 0 {
		p |= 0o2000
	}
	if m&os.ModeSticky != 0 {
		p |= 0o1000
	}
	return p
}

// devLinks are the symbolic links runtime-spec requires in /dev, as
// (link, target). /dev/core -> /proc/kcore is added only where the host has
// /proc/kcore, so it is not in this list.
var devLinks = [][2]string{
	{"/dev/fd", "/proc/self/fd"},
	{"/dev/stdin", "/proc/self/fd/0"},
	{"/dev/stdout", "/proc/self/fd/1"},
	{"/dev/stderr", "/proc/self/fd/2"},
	// With devpts mounted "newinstance", the ptmx of the container's own
	// instance is /dev/pts/ptmx; this link makes /dev/ptmx open it.
	{"/dev/ptmx", "pts/ptmx"},
}

// setsUpDev reports whether Prepare creates devices and links in /dev: it
// does unless /dev is a bind mount, which brings the host's (or a caller's)
// nodes along. runtime-spec requires the default devices whether or not
// /dev is a tmpfs; without one, they are created in the rootfs's own /dev.
func setsUpDev(plan []Mount) bool {
	return !slices.ContainsFunc(plan, func(m Mount) bool { return m.Target == "/dev" && m.Bind })
}

func (c *Config) check() error {
	if c == nil || c.Spec == nil {
		return errors.New("rootfs: no spec")
	}
	if !path.IsAbs(c.Rootfs) || path.Clean(c.Rootfs) != c.Rootfs || c.Rootfs == "/" {
		return fmt.Errorf("rootfs %q: must be an absolute, clean path other than /", c.Rootfs)
	}
	if c.Overlay != nil {
		if err := c.Overlay.Validate(); err != nil {
			return err
		}
	}
	if c.Spec.Linux != nil {
		if _, ok := propagationFlags(c.Spec.Linux.RootfsPropagation); !ok {
			return fmt.Errorf("rootfs propagation %q: unknown", c.Spec.Linux.RootfsPropagation)
		}
	}
	return nil
}

// log returns the logger, never nil.
func (c *Config) log() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Log
}

// rootPropagation returns linux.rootfsPropagation as flags, 0 if unset.
func (c *Config) rootPropagation() uintptr {
	if c.Spec.Linux == nil {
		return 0
	}
	p, _ := propagationFlags(c.Spec.Linux.RootfsPropagation)
	return p
}
