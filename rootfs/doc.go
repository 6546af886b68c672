// Package rootfs builds a container's view of the filesystem: its root,
// the special filesystems (/proc, /dev, /sys, ...), the device nodes, the
// masked and read-only paths, and the pivot_root(2) that makes it all the
// container's /.
//
// It runs inside the container's init process: pid 1 of a new pid
// namespace, already in a new mount namespace (clone(2) with CLONE_NEWNS),
// root with every capability, on a goroutine locked to its OS thread. The
// runtime calls, in this order:
//
//	Prepare(c)  // mounts under c.Rootfs (or the overlay on it), as seen from the host
//	Pivot(c)    // c.Rootfs becomes /; cwd is / afterwards
//	            // (the runtime writes linux.sysctl here)
//	Finalize(c) // read-only and masked paths, read-only /, propagation
//
// Plan shows, as data, the mounts Prepare will make; it makes no system
// calls and works on any OS.
//
// # Mount namespaces and propagation
//
// A mount namespace is a private copy of the mount table
// (mount_namespaces(7)). "Private copy" is not the whole truth: each mount
// belongs to a propagation type, and CLONE_NEWNS copies mounts together
// with their peer groups. On a host whose / is "shared" (systemd makes it
// so) a mount made under the container's rootfs would appear on the host
// too. So Prepare first makes the whole tree private, recursively:
//
//	mount("", "/", "", MS_REC|MS_PRIVATE, "")
//
// Nothing mounted afterwards goes back to the host, and pivot_root(2),
// which refuses to work with a shared new root or parent, is satisfied.
// linux.rootfsPropagation (shared, slave, private and their r* forms)
// replaces that default and is set again on the new / at the end;
// unbindable only at the end, since an unbindable tree could not be the
// source of the bind below.
//
// # Why bind the rootfs onto itself
//
// pivot_root(2) needs new_root to be a mount point; an image unpacked into
// a directory is just a directory on the host's disk. Binding it onto
// itself, mount(rootfs, rootfs, "", MS_BIND|MS_REC, ""), makes it a mount of
// its own, which is then the root of everything else Prepare mounts.
//
// # The root as an overlay of image layers
//
// An image is a stack of layers, each a directory holding what its layer
// changed. overlayfs (Documentation/filesystems/overlayfs.rst) shows them
// as one tree: a name is looked up from the topmost layer down and the
// first layer that has it wins; a character device 0/0 (a whiteout) hides
// the name in every layer below, and a directory with the xattr
// trusted.overlay.opaque=y hides what the layers below hold at that path.
// Writes go to the upper dir, copying a file up from its layer first. The
// work dir is overlayfs's scratch space for making that copy-up atomic: it
// builds the copy there and rename(2)s it into the upper dir, so the two
// must be on the same filesystem, and it must start empty. Without upper
// and work the overlay is read-only, and the kernel then wants two layers
// at least.
//
// With Config.Overlay set, step 2 of Prepare mounts the overlay on the
// empty Rootfs instead of binding Rootfs onto itself. It comes after step
// 1 made / private, so the overlay lives in the container's mount
// namespace only, never shows on the host, and goes away with the
// namespace, even when minirun crashes. Everything after (the spec's
// mounts, pivot_root, a read-only /) works on it as on the bind.
//
// The order of layers is the kernel's: in lowerdir=/l1:/l2:/l3 the stack
// starts from the rightmost, so /l1 is the top. Overlay.Lower is in that
// order, newest first: the reverse of an image manifest, which lists the
// base layer first.
//
// Many layers do not fit in one string. mount(2) copies its data argument
// into a single page (4096 bytes on x86-64), and a layer directory of the
// image store is about 100 bytes: some 40 layers fill it. The new mount
// API, fsopen(2), fsconfig(2), fsmount(2) and move_mount(2), sets options
// one at a time but copies each value into at most 256 bytes, so one
// "lowerdir" with every layer fares worse. Linux 6.8 added "lowerdir+":
// each fsconfig(2) call appends one layer below those before it, and only
// overlayfs's own limit of 500 layers remains. MountOverlay uses it where
// the kernel has it, which it finds out once by asking the kernel, not by
// its version. Elsewhere (6.1) it falls back to mount(2) with each layer
// named /proc/self/fd/N, an O_PATH fd of the layer opened just before: the
// kernel follows these links as it resolves the layers, and at about 18
// bytes each some 200 layers fit in a page; past that the mount fails and
// says so. In init, before pivot_root, /proc is still the host's and
// /proc/self names init by its pid there. /proc/self/mountinfo then shows
// those fd names as lowerdir; upperdir and workdir show their paths.
//
// A layer path may not contain ':', ',' or a backslash: ':' separates
// layers in lowerdir, ',' separates options, a backslash escapes the next
// byte, and the kernel unescapes "upperdir" and "workdir" even when they
// come one at a time through fsconfig(2). Refusing them (Overlay.Validate)
// keeps one rule for both code paths; digests never contain them.
//
// # Mounts resolved inside the root
//
// The image is untrusted. A destination such as /etc/hosts may cross a
// symlink "etc -> /" in the image, or one swapped in while we work
// (CVE-2021-30465). Every destination is therefore resolved with
// openat2(2) and RESOLVE_IN_ROOT on an fd of the rootfs, so the kernel
// itself clamps absolute links and ".." to the rootfs, and the mount
// targets /proc/self/fd/N of the fd that lookup returned (proc(5)), which
// no later rename can redirect. A bind mount takes two calls: the kernel
// ignores ro, nosuid, nodev and noexec on the mount(2) that creates the
// bind, so a second MS_REMOUNT|MS_BIND call applies them.
//
// # pivot_root versus chroot
//
// chroot(2) changes one process's idea of /; the host's tree is still in
// its mount namespace, and a process with CAP_SYS_CHROOT can climb out of a
// chroot. pivot_root(2) changes the root mount of the whole namespace;
// after it the old root is unmounted (MNT_DETACH) and no path leads to the
// host's files any more. The one place pivot_root cannot work is a host
// whose / is the initramfs (the kernel's "rootfs" mount can never be
// unmounted, so pivot_root answers EINVAL); Config.NoPivot moves the
// rootfs onto / with MS_MOVE and chroots there instead.
//
// # Masked and read-only paths
//
// /proc and /sys let a process reach the host's kernel: /proc/kcore is the
// kernel's memory, /proc/sysrq-trigger reboots the machine,
// /proc/sys/kernel/* sets host-wide knobs. The spec lists paths to mask
// (a bind of /dev/null over a file, an empty read-only tmpfs over a
// directory) and paths to make read-only (a bind of the path onto itself,
// remounted MS_RDONLY). Finalize applies them after pivot_root, once the
// container's own procfs is at /proc, and after the runtime wrote the
// spec's sysctls through it. The /dev/null bound over a file is the
// container's, the image's own without a tmpfs on /dev: it is opened
// without following links and must be the character device 1:3, else the
// container is refused. A symlink there would have the mask bind its
// target instead, a proc file or a host file (CVE-2025-31133 in runc).
//
// # When not to use it
//
// This package is for an init that is about to become the container. It
// changes the calling process's mount namespace, root, cwd and (briefly)
// umask: called anywhere else, it rearranges the host. Rootless containers
// (a user namespace without CAP_MKNOD) work for devices, which fall back to
// bind mounts of the host's nodes (as they do where /dev would sit on a
// nodev mount), but the rest is written for a runtime that is root.
//
// Man pages: mount(2), mount_namespaces(7), pivot_root(2), openat2(2),
// proc(5), mount_setattr(2), chroot(2), fsopen(2), fsconfig(2),
// fsmount(2), move_mount(2), open_tree(2).
package rootfs
