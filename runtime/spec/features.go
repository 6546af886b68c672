package spec

import (
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/minirun/minirun/runtime/seccomp"
)

// CapabilityNames maps each Linux capability number to its name:
// CapabilityNames[21] is "CAP_SYS_ADMIN". The numbers are those of
// <linux/capability.h>, the same on every architecture; the list ends at
// CAP_CHECKPOINT_RESTORE (40, Linux 5.9), the last one the kernel defines as
// of Linux 6.x. See capabilities(7).
//
// The runtime uses it to turn names from a config into the numbers capset(2)
// and prctl(2) take. Treat it as read-only.
var CapabilityNames = []string{
	"CAP_CHOWN",              // 0
	"CAP_DAC_OVERRIDE",       // 1
	"CAP_DAC_READ_SEARCH",    // 2
	"CAP_FOWNER",             // 3
	"CAP_FSETID",             // 4
	"CAP_KILL",               // 5
	"CAP_SETGID",             // 6
	"CAP_SETUID",             // 7
	"CAP_SETPCAP",            // 8
	"CAP_LINUX_IMMUTABLE",    // 9
	"CAP_NET_BIND_SERVICE",   // 10
	"CAP_NET_BROADCAST",      // 11
	"CAP_NET_ADMIN",          // 12
	"CAP_NET_RAW",            // 13
	"CAP_IPC_LOCK",           // 14
	"CAP_IPC_OWNER",          // 15
	"CAP_SYS_MODULE",         // 16
	"CAP_SYS_RAWIO",          // 17
	"CAP_SYS_CHROOT",         // 18
	"CAP_SYS_PTRACE",         // 19
	"CAP_SYS_PACCT",          // 20
	"CAP_SYS_ADMIN",          // 21
	"CAP_SYS_BOOT",           // 22
	"CAP_SYS_NICE",           // 23
	"CAP_SYS_RESOURCE",       // 24
	"CAP_SYS_TIME",           // 25
	"CAP_SYS_TTY_CONFIG",     // 26
	"CAP_MKNOD",              // 27
	"CAP_LEASE",              // 28
	"CAP_AUDIT_WRITE",        // 29
	"CAP_AUDIT_CONTROL",      // 30
	"CAP_SETFCAP",            // 31
	"CAP_MAC_OVERRIDE",       // 32
	"CAP_MAC_ADMIN",          // 33
	"CAP_SYSLOG",             // 34
	"CAP_WAKE_ALARM",         // 35
	"CAP_BLOCK_SUSPEND",      // 36
	"CAP_AUDIT_READ",         // 37
	"CAP_PERFMON",            // 38
	"CAP_BPF",                // 39
	"CAP_CHECKPOINT_RESTORE", // 40
}

// hookNames are the lifecycle points a config may hang hooks on, in the order
// runtime.md's lifecycle reaches them. prestart is deprecated in favour of
// createRuntime but is still recognised.
var hookNames = []string{
	"prestart",
	"createRuntime",
	"createContainer",
	"startContainer",
	"poststart",
	"poststop",
}

// mountOptions are the options of a config's mounts that become mount(2)
// flags or propagation changes, as mount(8) spells them. Any other option
// ("mode=755", "size=64k") is passed to the filesystem as data, and so is not
// listed, as features.md asks.
var mountOptions = []string{
	"async", "atime", "bind", "dev", "diratime", "dirsync", "exec",
	"mand", "noatime", "nodev", "nodiratime", "noexec", "nomand",
	"norelatime", "nostrictatime", "nosuid", "private", "rbind", "relatime",
	"remount", "ro", "rprivate", "rshared", "rslave", "runbindable", "rw",
	"shared", "slave", "strictatime", "suid", "sync", "unbindable",
}

// supportedNamespaces are the namespaces minirun creates or joins. Validate
// accepts user and time namespaces too, as the spec defines them, but minirun
// does not set them up, so they are not listed here.
var supportedNamespaces = []specs.LinuxNamespaceType{
	specs.PIDNamespace,
	specs.NetworkNamespace,
	specs.MountNamespace,
	specs.IPCNamespace,
	specs.UTSNamespace,
	specs.CgroupNamespace,
}

// Features returns the runtime-spec features document (features.md) that
// `minirun features` prints: which spec versions, hooks, mount options,
// namespaces, capabilities and cgroup modes minirun understands. In that
// document a missing (nil) field means "unknown", while false or an empty
// list means "not supported".
//
// Each call returns a new document that the caller may change.
func Features() *features.Features {
	namespaces := make([]string, len(supportedNamespaces))
	for i, ns := range supportedNamespaces {
		namespaces[i] = string(ns)
	}
	return &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         slices.Clone(hookNames),
		MountOptions:  slices.Clone(mountOptions),
		Linux: &features.Linux{
			Namespaces:   namespaces,
			Capabilities: slices.Clone(CapabilityNames),
			// The document uses pointers so that "unknown" (nil) differs
			// from false; new(false) points to a new variable holding false.
			Cgroup: &features.Cgroup{
				V1:          new(true),
				V2:          new(true),
				Systemd:     new(false),
				SystemdUser: new(false),
			},
			// What runtime/seccomp compiles. The flags are not probed:
			// a kernel older than one (SPEC_ALLOW came in Linux 4.17)
			// refuses it when init installs the filter, and says so.
			Seccomp: &features.Seccomp{
				Enabled:        new(true),
				Actions:        seccomp.Actions(),
				Operators:      seccomp.Operators(),
				Archs:          seccomp.Architectures(),
				KnownFlags:     seccomp.Flags(),
				SupportedFlags: seccomp.Flags(),
			},
			Apparmor: &features.Apparmor{Enabled: new(false)},
			Selinux:  &features.Selinux{Enabled: new(false)},
		},
	}
}
