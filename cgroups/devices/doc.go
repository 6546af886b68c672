// Package devices enforces the OCI device rules (linux.resources.devices)
// on cgroup v2: it compiles them into an eBPF program of type
// BPF_PROG_TYPE_CGROUP_DEVICE and attaches it to the container's cgroup.
//
// # Two kernels' worth of device control
//
// A device node is only a name for a (type, major, minor) triple; anyone
// who can create or open one reaches the driver behind it. Mount and user
// namespaces do not change that, so a container's access to devices is
// limited by its cgroup.
//
// On cgroup v1 the devices controller keeps, per cgroup, a default
// (allow or deny) and a list of exceptions, edited by writing lines such
// as "c 1:3 rwm" to devices.allow or devices.deny and read back from
// devices.list. Writing "a" to either file resets the list and sets the
// default. A child can never be given more than its parent has.
//
// Cgroup v2 has no devices controller and no such files. Instead, the
// kernel runs the eBPF programs attached at BPF_CGROUP_DEVICE to the
// process's cgroup and to each of its ancestors whenever the process
// creates a device node (mknod(2)) or opens one (open(2), at the
// permission check of the inode, so before any driver code). Each program
// gets a struct bpf_cgroup_dev_ctx:
//
//	struct bpf_cgroup_dev_ctx {
//		__u32 access_type; // (BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*
//		__u32 major;
//		__u32 minor;
//	};
//
// The low 16 bits of access_type say what kind of node it is
// (BPF_DEVCG_DEV_BLOCK = 1, BPF_DEVCG_DEV_CHAR = 2), the high 16 bits
// what the process asks for (BPF_DEVCG_ACC_MKNOD = 1, READ = 2, WRITE =
// 4; an open with O_RDWR asks for READ|WRITE in one call). A program
// returns 1 to allow and 0 to deny, and the system call then fails with
// EPERM. Because there is no controller, this works on any cgroup2
// directory, even with no controller enabled: on a hybrid host such as
// one with v1 controllers and a cgroup2 tree at /sys/fs/cgroup/unified,
// and there both the v1 devices controller and the programs must allow.
//
// # Which rule wins
//
// The OCI rules are a list. Runtimes apply it in order, as if each rule
// were a write to devices.allow or devices.deny, so a later rule
// overrides an earlier one: the usual list is "deny a" followed by the
// few devices a container may use. This package states that directly:
// for each access a request asks for, the verdict is that of the last
// rule that matches the device and lists the access; when no rule
// matches, the access is denied; the request is allowed only if every
// access it asks for is. Rules apply to exactly what they say:
//
//   - a rule of type "a" (or "") covers char and block devices with the
//     major and minor it names, a missing number (or -1) any number;
//   - a rule allows or denies only the accesses it lists, so a rule with
//     an empty access has no effect;
//   - a later allow may reopen part of an earlier wildcard deny, and
//     the other way round ("allow a", "deny c *:* rwm", "allow c 1:3 r"
//     lets a process read /dev/null).
//
// That last point is where cgroup v1, and runc, differ: v1 can remove an
// exception only as a whole, so it cannot punch a hole in a wildcard
// exception, and runc refuses such lists rather than build a filter v1
// would not match. v1 also treats "a" with numbers as all devices.
//
// # The program
//
// Program compiles the rules from the last to the first, with the
// requested accesses still undecided in a register: an allow rule that
// matches removes its accesses and allows once none remain; a deny rule
// that matches denies if any of the remaining accesses is one it lists.
// Program's documentation shows the shape. The kernel's verifier
// refuses code it can never reach, so a rule that covers every device
// for all of rwm ends the program and the rules before it are dropped.
//
// Attach loads the program and attaches it with BPF_PROG_ATTACH and
// BPF_F_ALLOW_MULTI; its documentation says why not a bpf_link and how
// an update replaces the program.
//
// # When not to use it
//
// On a cgroup v1 devices hierarchy write the rules to devices.allow and
// devices.deny instead; Attach refuses a directory that is not on
// cgroup2. Loading and attaching need CAP_SYS_ADMIN (or CAP_BPF with
// CAP_NET_ADMIN) in the initial user namespace, which a rootless runtime
// does not have.
//
// Read bpf(2) (BPF_PROG_LOAD, BPF_PROG_ATTACH, BPF_PROG_QUERY), the
// "Device controller" section of the kernel's
// Documentation/admin-guide/cgroup-v2.rst, and, for v1,
// Documentation/admin-guide/cgroup-v1/devices.rst.
package devices
