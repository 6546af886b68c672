// Package archive applies one image layer, a tar archive, to a directory,
// turning the layer's whiteouts into the form overlayfs understands.
//
// It is the piece of minirun that reads the most hostile input: a layer is
// a tar stream from a registry, and every name, link and mode bit in it is
// chosen by whoever built the image. Apply must write only under the
// directory it is given, whatever the archive says.
//
// # The layer format
//
// A layer is a tar(5) archive: a sequence of 512-byte headers, each naming
// one entry (regular file, directory, symlink, hardlink, character or block
// device, fifo) with its mode, owner, times and size, followed by the
// file's content padded to 512 bytes; two zero blocks end the archive. PAX
// extended headers carry what the old header cannot: long names and link
// targets, sub-second times, and extended attributes as
// SCHILY.xattr.<name> records (xattr(7)). Names are relative to the root
// of the image's filesystem; writers differ in whether they begin with
// "./" and whether directories end with "/".
//
// Apply reads headers until the end-of-archive marker and not one byte
// further. A layer blob is usually longer than its archive (tar pads to
// 10 KiB records, gzip adds a trailer), and its digest covers every byte:
// after Apply, the caller reads the rest of the stream itself.
//
// # Whiteouts: OCI form and overlayfs form
//
// A layer is a change set on top of the layers below it, so it must be
// able to say "this file is gone". The OCI image spec (layer.md), following
// aufs, says it with marker names:
//
//	a/.wh.b           a/b of the lower layers is deleted
//	a/.wh..wh..opq    a/ is opaque: nothing of the lower layers' a/ shows
//
// overlayfs, which stacks the unpacked layers at run time, has its own
// form (Documentation/filesystems/overlayfs.rst in the kernel tree,
// "whiteouts and opaque directories"):
//
//	a/b               a character device with device number 0/0
//	a/                the extended attribute trusted.overlay.opaque = "y"
//
// Apply converts the first into the second as it goes: ".wh.NAME" becomes
// a 0/0 character device named NAME (mknod(2)), replacing whatever this
// same archive put at NAME earlier, and ".wh..wh..opq" sets the opaque
// attribute on its directory, creating the directory if the archive has
// not. Any other ".wh..wh." name is aufs's bookkeeping (".wh..wh.plnk",
// ".wh..wh.aufs") and is skipped, with everything beneath it.
//
// Since Linux 5.8 an unprivileged process may create the 0/0 device (it is
// the one device mknod(2) allows without CAP_MKNOD), but trusted.* extended
// attributes need CAP_SYS_ADMIN, so an opaque directory needs root.
//
// # One directory per layer
//
// Each layer is applied to its own fresh directory, never on top of the
// layers below it; overlayfs does the stacking when the container starts,
// with the layer directories as its lowerdir list. So a whiteout of a file
// that this layer does not have is the normal case (the file is in a lower
// layer, and the device hides it there), the layers of an image can be
// unpacked in parallel and in any order, and a layer shared by several
// images is unpacked once.
//
// # Containment
//
// The archive decides names, link targets and types; it must not decide
// where anything lands. The rules:
//
//   - A name is cleaned (path.Clean, after which "./a/" is "a"); an
//     absolute name or one with a ".." component is refused, as is one
//     longer than PATH_MAX or with a component longer than NAME_MAX
//     (ENAMETOOLONG). "." is the layer directory itself: its own entry is
//     skipped (the caller made the directory and chose its owner and mode),
//     and no entry may replace it.
//   - No symlink is ever followed while applying, neither one of this
//     archive nor one planted beforehand. The directory that will hold an
//     entry is opened with openat2(2) and RESOLVE_BENEATH,
//     RESOLVE_NO_SYMLINKS, RESOLVE_NO_MAGICLINKS and RESOLVE_NO_XDEV, so a
//     name such as "lib/passwd" after a "lib -> /etc" entry fails (ELOOP)
//     instead of writing to the host's /etc, and so does "a/x" after
//     "a -> ../..". The entry itself is then made with *at(2) calls on
//     that directory's file descriptor and its last component: openat(2)
//     with O_CREAT|O_EXCL|O_NOFOLLOW, mkdirat, symlinkat, linkat without
//     AT_SYMLINK_FOLLOW, mknodat; a file's metadata is set through its
//     new descriptor, anything else's with fchownat and utimensat with
//     AT_SYMLINK_NOFOLLOW. No name from the archive is ever joined to the
//     directory's path and handed to a path-based system call.
//   - A symlink's target is only data: "/bin/sh -> busybox" and
//     "x -> /etc/passwd" are created as they are (symlink(7)); they mean
//     something only inside the container, whose root is this tree.
//   - A hardlink must name an entry this archive already created, through
//     no symlink, and not a directory. linkat(2) without AT_SYMLINK_FOLLOW
//     links a symlink itself, never its target. The link gets no metadata
//     from its own header (GNU tar does the same): the inode has it from
//     the entry that made it.
//   - There is no lchmod(2) before Linux 6.6 and chmod(2) follows
//     symlinks, so modes are set through a file descriptor (files and
//     directories), with fchmodat2(2) and AT_SYMLINK_NOFOLLOW where the
//     kernel has it, and never on anything that is a symlink.
//   - Extended attributes of entries other than files go through
//     lsetxattr(2) on /proc/self/fd/N/NAME, N the directory's descriptor:
//     the kernel reaches the directory through the descriptor, and the
//     "l" variant does not follow NAME. So Apply needs procfs at /proc.
//
// Later entries win, as in docker: an entry replaces what the archive put
// at its name before (a directory and all it holds, if it was one),
// except that a directory entry meeting a directory keeps it and updates
// its metadata. A directory that replaces a whiteout is made opaque: the
// whiteout deleted the lower layers' directory, and this one is new.
// (The OCI spec would rather have a whiteout never hide an entry of its
// own layer; Apply lets the later of the two win, as the archive's order
// says.) An entry below a whiteout ("a/x" after ".wh.a") fails, as its
// parent is not a directory.
//
// # Metadata
//
// Owners are numeric (uname and gname are ignored) and set before modes,
// because chown(2) clears the setuid and setgid bits; extended attributes
// come after both, because chown also drops security.capability. A
// directory's mode and times are set after the whole archive is written:
// every entry created inside a directory changes its mtime, and a
// read-only directory would refuse the entries of an unprivileged caller.
// A directory the archive uses without listing it is made with mode 0755
// and the caller's owner, as docker does.
//
// Extended attributes are copied with these exceptions. Names in overlay's
// own namespaces (trusted.overlay.*, user.overlay.*) are dropped: those
// tell overlayfs where to redirect lookups and whose data to use, and only
// Apply's own whiteout conversion may write them. An attribute the kernel
// refuses (EPERM or EOPNOTSUPP; for security.*, also EACCES and EINVAL, as
// an LSM refuses a label it does not know) is skipped and counted in
// Stats.XattrsSkipped; file capabilities (security.capability) are copied
// when the caller has CAP_SETFCAP. Any other failure fails the layer.
//
// Sparse entries are refused: Go's archive/tar expands their holes into
// zeros, so a tiny archive could write without bound. Without them Apply
// never writes more file bytes than it reads, so a caller that limits the
// uncompressed stream limits the disk used.
//
// # When not to use it
//
// Apply assumes it is the only writer of dir while it runs (a fresh
// directory the caller created); it defends against the archive, not
// against another process renaming directories under it. It extracts
// layers, not arbitrary tar files: whiteout names are interpreted and the
// archive's root entry is ignored.
//
// Man pages: tar(5), openat2(2), symlink(7), link(2), mknod(2), xattr(7),
// chown(2), chmod(2), utimensat(2).
package archive
