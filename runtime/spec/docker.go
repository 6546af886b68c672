package spec

import (
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// dockerCaps are the capabilities docker gives a container's process
// (moby's caps.DefaultCapabilities), in docker's order. CAP_NET_RAW lets it
// ping, CAP_MKNOD make device nodes (which the devices cgroup then refuses
// to open), CAP_SETPCAP and CAP_SETFCAP shape the capabilities of what it
// runs.
var dockerCaps = []string{
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_FSETID",
	"CAP_FOWNER",
	"CAP_MKNOD",
	"CAP_NET_RAW",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETFCAP",
	"CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT",
	"CAP_KILL",
	"CAP_AUDIT_WRITE",
}

// dockerMaskedPaths are the paths docker hides, each behind an empty file
// or an empty read-only tmpfs: host information (keys, interrupts, timers,
// firmware tables) and the Intel RAPL energy counters under powercap, a
// side channel (GHSA-jq35-85cj-fj4p).
var dockerMaskedPaths = []string{
	"/proc/acpi",
	"/proc/asound",
	"/proc/interrupts",
	"/proc/kcore",
	"/proc/keys",
	"/proc/latency_stats",
	"/proc/sched_debug",
	"/proc/scsi",
	"/proc/timer_list",
	"/proc/timer_stats",
	"/sys/devices/virtual/powercap",
	"/sys/firmware",
}

// dockerReadonlyPaths are the kernel knobs docker lets a container read but
// not turn; they are runc's too.
var dockerReadonlyPaths = []string{
	"/proc/bus",
	"/proc/fs",
	"/proc/irq",
	"/proc/sys",
	"/proc/sysrq-trigger",
}

// dockerShmSize is the size of /dev/shm without --shm-size: 64 MiB.
const dockerShmSize = 64 << 20

// DockerDefault returns the base config of a `minirun run IMAGE`: the one
// docker builds before it looks at the image or the flags (moby's
// oci.DefaultLinuxSpec, with what daemon/oci_linux.go adds for a container
// with its own network namespace). Pass it to [FromImage].
//
// Compared with [Default], runc's `runc spec`, it has:
//
//   - docker's 14 capabilities (CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID,
//     CAP_FOWNER, CAP_MKNOD, CAP_NET_RAW, CAP_SETGID, CAP_SETUID,
//     CAP_SETFCAP, CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
//     CAP_KILL, CAP_AUDIT_WRITE) in the bounding, effective and permitted
//     sets; none inheritable or ambient (CVE-2022-24769).
//   - a writable root, no terminal, no_new_privs off and no rlimits: the
//     process inherits the runtime's, as under docker without
//     --default-ulimit.
//   - docker's masked paths, which add /proc/interrupts and
//     /sys/devices/virtual/powercap to runc's. (Docker also masks
//     /sys/devices/system/cpu/cpuN/thermal_throttle on hosts that have it;
//     finding those needs the host, so a caller that wants them appends
//     them.)
//   - /dev/shm sized 64 MiB (--shm-size changes it), and /proc mounted
//     nosuid,noexec,nodev.
//   - namespaces mount, network, uts, pid, ipc and cgroup. The network
//     namespace is docker's --network none: a loopback interface and
//     nothing else.
//   - two sysctls docker sets in a container's own network namespace:
//     net.ipv4.ping_group_range "0 2147483647", so that ping works without
//     CAP_NET_RAW, and net.ipv4.ip_unprivileged_port_start "0", so that any
//     user may bind a port below 1024. (Docker skips one the kernel lacks;
//     both exist since Linux 4.11.)
//   - docker's devices cgroup rules: deny everything, then allow
//     /dev/null, /dev/zero, /dev/urandom, /dev/random, /dev/tty and
//     /dev/console, and deny /dev/fuse once more. The runtime adds the
//     rules for the devices every container has, as for any config.
//   - minirun's default seccomp profile, [DefaultSeccomp] of docker's
//     capabilities: an allow-list like docker's default profile, under
//     which what a container has no business calling (mount, new user
//     namespaces, keyctl, bpf, modules, ...) fails with EPERM.
//     [FromImage] rebuilds it when --cap-add or --cap-drop change the
//     capabilities, and drops it for --privileged and --security-opt
//     seccomp=unconfined.
//   - no hostname: the caller names the container, through
//     [ImageRun].Hostname.
//
// Its process runs sh in /, a placeholder that FromImage replaces, so that
// the config is valid on its own. Each call returns a new Spec that shares
// no memory with any other.
func DockerDefault() *specs.Spec {
	return &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: "rootfs"},
		Process: &specs.Process{
			User: specs.User{UID: 0, GID: 0},
			Args: []string{"sh"},
			Env:  []string{"PATH=" + defaultPathEnv},
			Cwd:  "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  slices.Clone(dockerCaps),
				Effective: slices.Clone(dockerCaps),
				Permitted: slices.Clone(dockerCaps),
			},
		},
		Mounts: []specs.Mount{
			{
				Destination: "/proc",
				Type:        "proc",
				Source:      "proc",
				Options:     []string{"nosuid", "noexec", "nodev"},
			},
			{
				Destination: "/dev",
				Type:        "tmpfs",
				Source:      "tmpfs",
				Options:     []string{"nosuid", "strictatime", "mode=755", "size=65536k"},
			},
			{
				Destination: "/dev/pts",
				Type:        "devpts",
				Source:      "devpts",
				Options:     []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"},
			},
			{
				Destination: "/sys",
				Type:        "sysfs",
				Source:      "sysfs",
				Options:     []string{"nosuid", "noexec", "nodev", "ro"},
			},
			{
				Destination: "/sys/fs/cgroup",
				Type:        "cgroup",
				Source:      "cgroup",
				Options:     []string{"ro", "nosuid", "noexec", "nodev"},
			},
			{
				Destination: "/dev/mqueue",
				Type:        "mqueue",
				Source:      "mqueue",
				Options:     []string{"nosuid", "noexec", "nodev"},
			},
			{
				Destination: "/dev/shm",
				Type:        "tmpfs",
				Source:      "shm",
				Options:     []string{"nosuid", "noexec", "nodev", "mode=1777", "size=" + formatSize(dockerShmSize)},
			},
		},
		Linux: &specs.Linux{
			Seccomp:       DefaultSeccomp(dockerCaps),
			MaskedPaths:   slices.Clone(dockerMaskedPaths),
			ReadonlyPaths: slices.Clone(dockerReadonlyPaths),
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.MountNamespace},
				{Type: specs.NetworkNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.PIDNamespace},
				{Type: specs.IPCNamespace},
				{Type: specs.CgroupNamespace},
			},
			Sysctl: map[string]string{
				"net.ipv4.ping_group_range":           "0 2147483647",
				"net.ipv4.ip_unprivileged_port_start": "0",
			},
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{
					{Allow: false, Access: "rwm"},
					charDevice(true, 1, 5),     // /dev/zero
					charDevice(true, 1, 3),     // /dev/null
					charDevice(true, 1, 9),     // /dev/urandom
					charDevice(true, 1, 8),     // /dev/random
					charDevice(true, 5, 0),     // /dev/tty
					charDevice(true, 5, 1),     // /dev/console
					charDevice(false, 10, 229), // /dev/fuse, denied again as docker does
				},
			},
		},
	}
}

// charDevice is a devices cgroup rule for one character device.
func charDevice(allow bool, major, minor int64) specs.LinuxDeviceCgroup {
	return specs.LinuxDeviceCgroup{Allow: allow, Type: "c", Major: &major, Minor: &minor, Access: "rwm"}
}
