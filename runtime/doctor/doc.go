// Package doctor looks at the machine minirun runs on and says, for each
// thing a container depends on, whether it is there, and if not, what
// fails and the command that fixes it. `minirun doctor` prints its
// findings; it exits 1 when one of them is a failure (minirun cannot run a
// container) or a warning (something works worse than it could), and 0
// otherwise. Informational findings do not count.
//
// # Reading apart from judging
//
// Gather (gather_linux.go) reads the machine into an Inputs value: file
// contents as text, statfs(2) numbers, the routes netlink reports, the
// image store's platforms. Check turns Inputs into findings and makes no
// system call, so every judgement is unit-tested on captured or invented
// inputs, the failing ones included. The one check that must act to know
// is overlayfs: Gather mounts a tiny overlay on the store's filesystem,
// inside a mount namespace of a throwaway thread, and hands Check only the
// outcome.
//
// # What is checked, and the kernel rule behind each
//
// cgroups. Detect (package cgroups) tells v2, hybrid and v1 apart by the
// filesystem magic statfs(2) reports at /sys/fs/cgroup, never by file
// names. On v2 a cgroup gets only the controllers its parent lists in
// cgroup.subtree_control, and apart from the root a cgroup with processes
// of its own cannot pass controllers on (the "no internal processes" rule
// of the kernel's Documentation/admin-guide/cgroup-v2.rst). minirun puts
// containers under /minirun in the hierarchy, so the doctor reads the
// controllers offered there and whether that cgroup holds processes. On
// hybrid and v1 hosts minirun falls back to the v1 hierarchies
// (cgroups(7)) for memory, cpu, cpuset, pids, freezer and devices, under
// its own cgroup of each hierarchy; io, hugetlb, rdma and unified limits
// then fail with "needs cgroup v2". The devices hierarchy is the one v1
// controller every container needs: its device rules are written there.
//
// overlay. A container from an image is an overlay (the kernel's
// Documentation/filesystems/overlayfs.rst) of the image's layer
// directories with an upper and a work directory, all in the store. The
// upper filesystem must support the xattrs and whiteouts (character
// devices 0/0) overlayfs writes there; an overlayfs is no such filesystem,
// so a store on an overlay (minirun inside a container) fails. The trial
// mount deletes a lower file and checks that the whiteout appeared.
//
// store. statfs(2) gives the store's free space (f_bavail, the blocks an
// unprivileged writer may use) and ST_RDONLY; access(2) with W_OK says
// whether minirun may write there.
//
// root. pivot_root(2) answers EINVAL when / is the initramfs: the
// kernel's "rootfs" mount is at the bottom of every tree and can never be
// unmounted. /proc/self/mountinfo (proc(5)) names its type "rootfs".
//
// propagation. mount_namespaces(7): a mount is shared (a peer group,
// "shared:N" in mountinfo), a slave ("master:N") or private. minirun makes
// / private inside each container's mount namespace before it mounts
// anything, so a shared host root is safe; a private one means mounts made
// on the host later never reach a container, whatever a bind mount's
// propagation asks.
//
// nftables, ip_forward, subnets. A bridged container needs the kernel's
// nf_tables over netlink (nft(8) is the same interface; minirun needs no
// binary), and net.ipv4.ip_forward (the kernel's
// Documentation/networking/ip-sysctl.rst), which minirun turns on by itself
// at the first bridged container. A minirun subnet that overlaps a route of
// the host hides the hosts behind that route from containers, and the
// host's replies from the network behind the bridge.
//
// dns. resolv.conf(5) of the host names its name servers; a loopback one
// (systemd-resolved's stub at 127.0.0.53) is the container's own loopback
// inside its network namespace. minirun replaces it with the stub's
// upstream servers (/run/systemd/resolve/resolv.conf), or with public
// servers when there are none (network.ResolvConf).
//
// userns. /proc/sys/user/max_user_namespaces (user_namespaces(7)) of 0
// forbids new user namespaces; minirun needs one only for a spec that asks.
//
// images. An image's config names the architecture its programs are built
// for; the kernel runs another one only through a binfmt_misc handler
// (the kernel's Documentation/admin-guide/binfmt-misc.rst), usually
// qemu-user's, else execve(2) fails with ENOEXEC ("exec format error").
//
// # When not to use it
//
// The doctor describes this machine as the calling process sees it: run it
// as root, in the host's namespaces, with the same --store as the
// containers. It changes nothing but a temporary directory in the store's
// filesystem, which it removes.
package doctor
