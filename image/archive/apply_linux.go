package archive

import (
	"archive/tar"
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// resolve is how every directory an entry goes into is looked up, from the
// layer directory's descriptor: not above it, through no symlink at all
// (the archive's own links are data, never a way), no /proc magic link,
// and no mount point, so that what is written is on the layer's own
// filesystem, inside it.
const resolve = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS |
	unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

// copyBufferSize is large enough that a layer's big files go through in a
// few system calls; one buffer serves a whole Apply, and the pool lets
// the layers of an image, unpacked one after the other or in parallel,
// share a few.
const copyBufferSize = 1 << 20

var copyBuffers = sync.Pool{New: func() any { return new([copyBufferSize]byte) }}

// Apply reads an uncompressed layer tar from r and writes it into dir,
// which must exist (normally empty: each layer gets its own fresh
// directory), converting whiteouts to overlayfs form; see the package
// documentation for the rules. It returns what it did, Stats.Entries
// being the number of entries applied.
//
// Apply reads r up to the tar end-of-archive marker and not beyond: the
// caller reads the rest (padding, trailer) itself, to verify a digest of
// the whole stream.
//
// A failure to apply an entry is an *EntryError naming it, wrapping
// ErrUnsafePath, ErrBadLink, ErrUnsupported or the system call's error;
// a stream that is not a valid tar fails with the wrapped archive/tar or
// io error (io.ErrUnexpectedEOF for a truncated one). Apply leaves what it
// made so far in dir, which the caller then removes; it writes nothing
// outside dir, whatever the archive holds.
func Apply(dir string, r io.Reader, opts Options) (Stats, error) {
	root, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Stats{}, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	buf := copyBuffers.Get().(*[copyBufferSize]byte)
	defer copyBuffers.Put(buf)
	a := &applier{
		root:   root,
		opts:   opts,
		buf:    buf[:],
		lastFd: -1,
		dirs:   map[string]dirMeta{},
	}
	defer a.close()

	tr := tar.NewReader(r)
	prev := ""
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		// With GODEBUG=tarinsecurepath=0 archive/tar flags names such as
		// "../x" itself; cleanName refuses them with the entry named.
		if err != nil && !(errors.Is(err, tar.ErrInsecurePath) && hdr != nil) {
			if prev == "" {
				return a.stats, fmt.Errorf("read layer tar: %w", err)
			}
			return a.stats, fmt.Errorf("read layer tar after entry %q: %w", prev, err)
		}
		prev = hdr.Name
		if err := a.apply(hdr, tr); err != nil {
			return a.stats, &EntryError{Name: hdr.Name, Err: err}
		}
	}
	return a.stats, a.finishDirs()
}

// applier is the state of one Apply.
type applier struct {
	root  int // the layer directory
	opts  Options
	buf   []byte
	stats Stats

	// The directory of the last entry, kept open: archives list a
	// directory's files one after another, and each would otherwise cost
	// a lookup from the root.
	lastPath string
	lastFd   int

	// Directories whose mode and times are set at the end, by clean path.
	dirs map[string]dirMeta
}

// dirMeta is what finishDirs sets on a directory.
type dirMeta struct {
	entry    string // the tar name that made it, for errors
	mode     uint32
	times    [2]unix.Timespec
	setTimes bool // false for a directory made only as a parent
}

func (a *applier) close() {
	a.forgetLast()
	unix.Close(a.root)
}

func (a *applier) forgetLast() {
	if a.lastFd >= 0 {
		unix.Close(a.lastFd)
	}
	a.lastPath, a.lastFd = "", -1
}

// apply applies one entry.
func (a *applier) apply(hdr *tar.Header, r io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		// archive/tar does not apply a global header's records to the
		// entries that follow, and its name means nothing.
		a.stats.Skipped++
		return nil
	}
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	k, target, err := classify(name)
	if err != nil {
		return err
	}
	dir, base := path.Dir(name), path.Base(name)
	switch k {
	case kindMeta:
		a.stats.Skipped++
		return nil
	case kindOpaque:
		dfd, err := a.dir(dir, hdr.Name)
		if err != nil {
			return err
		}
		if err := unix.Fsetxattr(dfd, "trusted.overlay.opaque", []byte("y"), 0); err != nil {
			return &os.PathError{Op: "fsetxattr trusted.overlay.opaque", Path: dir, Err: err}
		}
		a.stats.Entries++
		a.stats.Whiteouts++
		return nil
	case kindWhiteout:
		dfd, err := a.dir(dir, hdr.Name)
		if err != nil {
			return err
		}
		// The 0/0 device is overlayfs's whiteout; it replaces whatever
		// this archive put at the name before.
		err = a.create(dfd, target, func() error { return unix.Mknodat(dfd, target, unix.S_IFCHR, 0) })
		if err != nil {
			return &os.PathError{Op: "mknodat", Path: path.Join(dir, target), Err: err}
		}
		a.stats.Entries++
		a.stats.Whiteouts++
		return nil
	}

	if err := validate(hdr); err != nil {
		return err
	}
	if name == "." {
		if hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("%w: a %s replacing the layer directory", ErrUnsafePath, typeName(hdr.Typeflag))
		}
		// The caller made the layer directory, and its owner and mode
		// guard the store it lives in; with an upper directory, overlayfs
		// takes the container's / from the upper one anyway.
		a.stats.Skipped++
		return nil
	}
	isDev := hdr.Typeflag == tar.TypeChar || hdr.Typeflag == tar.TypeBlock
	whiteoutDev := hdr.Typeflag == tar.TypeChar && hdr.Devmajor == 0 && hdr.Devminor == 0
	if isDev && a.opts.NoDevices && !whiteoutDev {
		a.stats.Skipped++
		return nil
	}

	dfd, err := a.dir(dir, hdr.Name)
	if err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeCont:
		err = a.file(dfd, name, base, hdr, r)
	case tar.TypeDir:
		err = a.mkdir(dfd, name, base, hdr)
	case tar.TypeSymlink:
		err = a.create(dfd, base, func() error { return unix.Symlinkat(hdr.Linkname, dfd, base) })
		if err != nil {
			err = &os.PathError{Op: "symlinkat", Path: name, Err: err}
		} else {
			err = a.meta(dfd, name, base, hdr, false)
		}
	case tar.TypeLink:
		err = a.link(dfd, name, base, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		mode := uint32(hdr.Mode) & 0o7777
		switch hdr.Typeflag {
		case tar.TypeChar:
			mode |= unix.S_IFCHR
		case tar.TypeBlock:
			mode |= unix.S_IFBLK
		default:
			mode |= unix.S_IFIFO
		}
		dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
		err = a.create(dfd, base, func() error { return unix.Mknodat(dfd, base, mode, dev) })
		if err != nil {
			err = &os.PathError{Op: "mknodat", Path: name, Err: err}
		} else {
			err = a.meta(dfd, name, base, hdr, true)
		}
	}
	if err != nil {
		return err
	}
	a.stats.Entries++
	return nil
}

// create runs mk, which makes base in dfd and fails with EEXIST if
// something is there. If something is, it goes (the later entry wins) and
// mk runs again.
func (a *applier) create(dfd int, base string, mk func() error) error {
	err := mk()
	if err != unix.EEXIST {
		return err
	}
	if err := a.removeAll(dfd, base); err != nil {
		return err
	}
	return mk()
}

// file writes a regular file.
func (a *applier) file(dfd int, name, base string, hdr *tar.Header, r io.Reader) error {
	var fd int
	err := a.create(dfd, base, func() (err error) {
		// O_EXCL|O_NOFOLLOW: never open, let alone truncate, what is
		// already there; it is removed first. 0600 until the mode is set,
		// after the owner.
		fd, err = unix.Openat(dfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		return err
	})
	if err != nil {
		return &os.PathError{Op: "create", Path: name, Err: err}
	}
	err = a.fill(fd, name, hdr, r)
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = &os.PathError{Op: "close", Path: name, Err: cerr}
	}
	return err
}

// fill writes the content and metadata of the new file fd. Order matters:
// the owner before the mode, because chown(2) clears setuid and setgid,
// and the attributes after both, because chown drops file capabilities.
func (a *applier) fill(fd int, name string, hdr *tar.Header, r io.Reader) error {
	n, err := io.CopyBuffer(fdWriter(fd), io.LimitReader(r, hdr.Size), a.buf)
	a.stats.Bytes += n
	if err != nil {
		return fmt.Errorf("copy content of %s: %w", name, err)
	}
	if n != hdr.Size {
		return fmt.Errorf("copy content of %s: %w", name, io.ErrUnexpectedEOF)
	}
	if !a.opts.NoChown {
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			return &os.PathError{Op: "fchown", Path: name, Err: err}
		}
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode)&0o7777); err != nil {
		return &os.PathError{Op: "fchmod", Path: name, Err: err}
	}
	err = a.xattrs(name, hdr, func(k string, v []byte) error { return unix.Fsetxattr(fd, k, v, 0) })
	if err != nil {
		return err
	}
	ts := times(hdr)
	if err := futimens(fd, &ts); err != nil {
		return &os.PathError{Op: "futimens", Path: name, Err: err}
	}
	return nil
}

// mkdir makes a directory, or keeps the one there, and sets its owner
// and attributes; mode and times wait for finishDirs.
func (a *applier) mkdir(dfd int, name, base string, hdr *tar.Header) error {
	// 0700 until finishDirs: the caller can write into it whatever mode
	// the archive gives it.
	err := unix.Mkdirat(dfd, base, 0o700)
	opaque := false
	if err == unix.EEXIST {
		var st unix.Stat_t
		if err = unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			// A directory in place of a whiteout: the lower layers' one
			// is deleted, this one is new, so none of theirs may show
			// through it.
			opaque = st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
			err = a.create(dfd, base, func() error { return unix.Mkdirat(dfd, base, 0o700) })
		}
	}
	if err != nil {
		return &os.PathError{Op: "mkdirat", Path: name, Err: err}
	}
	if opaque {
		if err := lsetxattrAt(dfd, base)("trusted.overlay.opaque", []byte("y")); err != nil {
			return &os.PathError{Op: "setxattr trusted.overlay.opaque", Path: name, Err: err}
		}
	}
	if !a.opts.NoChown {
		if err := unix.Fchownat(dfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "fchownat", Path: name, Err: err}
		}
	}
	if err := a.xattrs(name, hdr, lsetxattrAt(dfd, base)); err != nil {
		return err
	}
	a.dirs[name] = dirMeta{entry: hdr.Name, mode: uint32(hdr.Mode) & 0o7777, times: times(hdr), setTimes: true}
	return nil
}

// link makes a hardlink to an entry this archive made before.
func (a *applier) link(dfd int, name, base string, hdr *tar.Header) error {
	target, err := cleanName(hdr.Linkname)
	switch {
	case err != nil:
		return fmt.Errorf("%w to %q: %w", ErrBadLink, hdr.Linkname, err)
	case target == name:
		return fmt.Errorf("%w: %q links to itself", ErrBadLink, hdr.Linkname)
	case target == ".":
		return fmt.Errorf("%w: %q is the layer directory", ErrBadLink, hdr.Linkname)
	}
	tdir, tbase := path.Dir(target), path.Base(target)
	tfd, done, err := a.lookupDir(tdir)
	if err != nil {
		if errors.Is(err, ErrUnsafePath) {
			return fmt.Errorf("%w to %q: %w", ErrBadLink, hdr.Linkname, err)
		}
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return fmt.Errorf("%w: %q is not in this layer", ErrBadLink, hdr.Linkname)
		}
		return err
	}
	defer done()
	var st unix.Stat_t
	err = unix.Fstatat(tfd, tbase, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case err == unix.ENOENT:
		return fmt.Errorf("%w: %q is not in this layer", ErrBadLink, hdr.Linkname)
	case err != nil:
		return &os.PathError{Op: "fstatat", Path: target, Err: err}
	case st.Mode&unix.S_IFMT == unix.S_IFDIR:
		return fmt.Errorf("%w: %q is a directory", ErrBadLink, hdr.Linkname)
	}
	// Without AT_SYMLINK_FOLLOW, a link to a symlink is a link to the
	// symlink, not to what it points at.
	err = a.create(dfd, base, func() error { return unix.Linkat(tfd, tbase, dfd, base, 0) })
	if err == unix.ENOENT {
		// Replacing name removed the target: name was a directory
		// holding it.
		return fmt.Errorf("%w: %q is gone, it was inside %q", ErrBadLink, hdr.Linkname, hdr.Name)
	}
	if err != nil {
		return &os.PathError{Op: "linkat", Path: name, Err: err}
	}
	// No metadata from the link's header, as GNU tar: the inode has its
	// own from the entry that made it, and chown(2) would drop its
	// setuid bits and file capabilities, which a link's header need not
	// repeat.
	return nil
}

// meta sets the metadata of base in dfd, a symlink, device or fifo,
// without following it if it is a symlink. chmod is false for symlinks,
// which have no mode of their own.
func (a *applier) meta(dfd int, name, base string, hdr *tar.Header, chmod bool) error {
	if !a.opts.NoChown {
		if err := unix.Fchownat(dfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "fchownat", Path: name, Err: err}
		}
	}
	if chmod {
		if err := chmodNoFollow(dfd, base, uint32(hdr.Mode)&0o7777); err != nil {
			return &os.PathError{Op: "fchmodat", Path: name, Err: err}
		}
	}
	if err := a.xattrs(name, hdr, lsetxattrAt(dfd, base)); err != nil {
		return err
	}
	ts := times(hdr)
	if err := unix.UtimesNanoAt(dfd, base, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimensat", Path: name, Err: err}
	}
	return nil
}

// chmodNoFollow sets the mode of base in dfd unless it is a symlink.
// fchmodat2(2) (Linux 6.6) does it without following; before it,
// fchmodat(2) follows a symlink, so base is looked at first. The two
// steps are not atomic, which is safe only because nothing but Apply
// writes in the layer directory while it runs.
func chmodNoFollow(dfd int, base string, mode uint32) error {
	err := unix.Fchmodat(dfd, base, mode, unix.AT_SYMLINK_NOFOLLOW)
	if err != unix.EOPNOTSUPP {
		return err
	}
	// No fchmodat2, or base is a symlink.
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return nil
	}
	return unix.Fchmodat(dfd, base, mode, 0)
}

// lsetxattrAt sets attributes on base in dfd without following it. There
// is no lsetxattrat(2) before Linux 6.13's setxattrat(2); the path
// /proc/self/fd/N/base reaches base through the descriptor of its
// directory, and lsetxattr does not follow base itself.
func lsetxattrAt(dfd int, base string) func(string, []byte) error {
	p := "/proc/self/fd/" + strconv.Itoa(dfd) + "/" + base
	return func(k string, v []byte) error { return unix.Lsetxattr(p, k, v, 0) }
}

// xattrs sets the entry's extended attributes with set, skipping those
// the package documentation says are skipped.
func (a *applier) xattrs(name string, hdr *tar.Header, set func(string, []byte) error) error {
	if len(hdr.PAXRecords) == 0 {
		return nil
	}
	for _, k := range slices.Sorted(maps.Keys(hdr.PAXRecords)) {
		attr, ok := strings.CutPrefix(k, xattrPrefix)
		if !ok {
			continue
		}
		if isOverlayXattr(attr) {
			a.stats.XattrsSkipped++
			continue
		}
		err := set(attr, []byte(hdr.PAXRecords[k]))
		if err == nil {
			continue
		}
		if xattrRefused(attr, err) {
			a.stats.XattrsSkipped++
			continue
		}
		return &os.PathError{Op: "setxattr " + attr, Path: name, Err: err}
	}
	return nil
}

// xattrRefused tells a refusal (the kernel, a filesystem or an LSM will
// not have this attribute here) from a failure.
func xattrRefused(attr string, err error) bool {
	switch err {
	case unix.EPERM, unix.EOPNOTSUPP:
		// trusted.* without CAP_SYS_ADMIN, security.capability without
		// CAP_SETFCAP, user.* on a symlink or device, a filesystem
		// without xattrs, a namespace the kernel does not know.
		return true
	case unix.EACCES, unix.EINVAL:
		return strings.HasPrefix(attr, "security.")
	}
	return false
}

// times returns atime and mtime for utimensat(2). Without a PAX atime
// the access time is the modification time, as tar(1) does.
func times(hdr *tar.Header) [2]unix.Timespec {
	m, at := hdr.ModTime, hdr.AccessTime
	if at.IsZero() {
		at = m
	}
	return [2]unix.Timespec{timespec(at), timespec(m)}
}

func timespec(t time.Time) unix.Timespec {
	if t.IsZero() {
		return unix.Timespec{Nsec: unix.UTIME_OMIT}
	}
	// Not unix.NsecToTimespec(t.UnixNano()): UnixNano overflows outside
	// 1678-2262, and tar's base-256 fields go far beyond.
	ts, err := unix.TimeToTimespec(t)
	if err != nil {
		// Beyond 2038 on a 32-bit system: the file keeps the time of its
		// making rather than the layer failing.
		return unix.Timespec{Nsec: unix.UTIME_OMIT}
	}
	return ts
}

// futimens is utimensat(2) with a NULL path, which sets the times of fd
// itself; x/sys/unix has no wrapper for that form.
func futimens(fd int, ts *[2]unix.Timespec) error {
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// dir returns a descriptor of directory p (clean, relative to the root),
// making it and its missing parents, and keeps it as the last directory.
// The descriptor belongs to the applier: do not close it.
func (a *applier) dir(p, entry string) (int, error) {
	if p == "." {
		return a.root, nil
	}
	if a.lastFd >= 0 && p == a.lastPath {
		return a.lastFd, nil
	}
	// Going down from the last directory (a/b after a) looks up only the
	// rest of the way; either way, the lookup is beneath a descriptor the
	// same rules gave.
	from, fromPath, rel := a.root, ".", p
	if a.lastFd >= 0 && strings.HasPrefix(p, a.lastPath+"/") {
		from, fromPath, rel = a.lastFd, a.lastPath, p[len(a.lastPath)+1:]
	}
	fd, err := openDir(from, rel)
	if err == unix.ENOENT {
		fd, err = a.mkdirAll(from, fromPath, rel, entry)
	}
	if err != nil {
		return -1, dirError(p, err)
	}
	a.forgetLast()
	a.lastPath, a.lastFd = p, fd
	return fd, nil
}

// mkdirAll makes the missing directories of rel beneath from (whose path
// is fromPath), one component at a time, as docker does for an archive
// that leaves out a parent. They get mode 0755 and the caller's owner.
func (a *applier) mkdirAll(from int, fromPath, rel, entry string) (int, error) {
	cur, curPath := from, fromPath
	for c := range strings.SplitSeq(rel, "/") {
		p := path.Join(curPath, c)
		fd, err := openDir(cur, c)
		if err == unix.ENOENT {
			err = unix.Mkdirat(cur, c, 0o700)
			if err == nil {
				a.dirs[p] = dirMeta{entry: entry, mode: 0o755}
			}
			if err == nil || err == unix.EEXIST {
				fd, err = openDir(cur, c)
			}
		}
		if cur != from {
			unix.Close(cur)
		}
		if err != nil {
			return -1, err
		}
		cur, curPath = fd, p
	}
	return cur, nil
}

// lookupDir returns a descriptor of the existing directory p, and what to
// call when done with it. The descriptor is never the last directory's,
// which removeAll may close while the caller still uses this one: a
// closed descriptor's number can be reused by any goroutine's open.
func (a *applier) lookupDir(p string) (int, func(), error) {
	if p == "." {
		return a.root, func() {}, nil
	}
	fd, err := openDir(a.root, p)
	if err != nil {
		return -1, nil, dirError(p, err)
	}
	return fd, func() { unix.Close(fd) }, nil
}

// openDir opens directory rel beneath dfd by the rules of resolve.
func openDir(dfd int, rel string) (int, error) {
	how := unix.OpenHow{
		// Not O_NOFOLLOW: RESOLVE_NO_SYMLINKS already refuses a last
		// component that is a symlink, with ELOOP, where O_NOFOLLOW and
		// O_DIRECTORY together would say ENOTDIR.
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: resolve,
	}
	for range 16 {
		fd, err := unix.Openat2(dfd, rel, &how)
		// EAGAIN: the kernel saw a rename race during the lookup and
		// asks us to try again rather than guess.
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		return fd, err
	}
	return -1, unix.EAGAIN
}

// dirError explains a failed lookup of directory p.
func dirError(p string, err error) error {
	pe := &os.PathError{Op: "openat2", Path: p, Err: err}
	switch err {
	case unix.ELOOP:
		return fmt.Errorf("%w: %q crosses a symlink: %w", ErrUnsafePath, p, pe)
	case unix.EXDEV:
		return fmt.Errorf("%w: %q crosses a mount point: %w", ErrUnsafePath, p, pe)
	}
	return pe
}

// removeAll removes base from dfd, with everything in it if it is a
// directory, following no symlink.
func (a *applier) removeAll(dfd int, base string) error {
	err := unix.Unlinkat(dfd, base, 0)
	if err != unix.EISDIR {
		if err == unix.ENOENT {
			return nil
		}
		return err
	}
	// The last directory may be this one or inside it, unless it is dfd
	// itself: a descriptor of a removed directory would make later
	// entries vanish with it.
	if a.lastFd >= 0 && a.lastFd != dfd {
		a.forgetLast()
	}
	return removeTree(dfd, base)
}

func removeTree(dfd int, base string) error {
	fd, err := unix.Openat(dfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	names, err := readDirNames(fd)
	for _, n := range names {
		if err != nil {
			break
		}
		err = unix.Unlinkat(fd, n, 0)
		if err == unix.EISDIR {
			err = removeTree(fd, n)
		}
	}
	unix.Close(fd)
	if err != nil {
		return err
	}
	return unix.Unlinkat(dfd, base, unix.AT_REMOVEDIR)
}

func readDirNames(fd int) ([]string, error) {
	buf := make([]byte, 8<<10)
	var names []string
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

// finishDirs sets the mode and times of the directories, now that nothing
// more is written into them. Deepest first, so that an unprivileged
// caller can still reach a directory whose parent becomes read-only.
func (a *applier) finishDirs() error {
	a.forgetLast()
	paths := slices.Collect(maps.Keys(a.dirs))
	slices.SortFunc(paths, func(x, y string) int {
		if c := cmp.Compare(strings.Count(y, "/"), strings.Count(x, "/")); c != 0 {
			return c
		}
		return strings.Compare(x, y)
	})
	for _, p := range paths {
		m := a.dirs[p]
		fd, err := openDir(a.root, p)
		switch err {
		case nil:
		case unix.ENOENT, unix.ENOTDIR, unix.ELOOP:
			// A later entry removed or replaced it (a directory made at
			// the same path again has a newer record).
			continue
		default:
			return &EntryError{Name: m.entry, Err: &os.PathError{Op: "openat2", Path: p, Err: err}}
		}
		err = unix.Fchmod(fd, m.mode)
		if err != nil {
			err = &os.PathError{Op: "fchmod", Path: p, Err: err}
		} else if m.setTimes {
			if err = futimens(fd, &m.times); err != nil {
				err = &os.PathError{Op: "futimens", Path: p, Err: err}
			}
		}
		unix.Close(fd)
		if err != nil {
			return &EntryError{Name: m.entry, Err: err}
		}
	}
	return nil
}

// fdWriter writes to a file descriptor. Unlike *os.File it has no
// ReadFrom, so io.CopyBuffer uses the applier's buffer, and it skips the
// runtime poller, which regular files do not use anyway.
type fdWriter int

func (w fdWriter) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Write(int(w), p[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			return n, io.ErrShortWrite
		}
		n += m
	}
	return n, nil
}

// typeName names a type flag for messages.
func typeName(t byte) string {
	switch t {
	case tar.TypeReg, tar.TypeCont:
		return "regular file"
	case tar.TypeLink:
		return "hardlink"
	case tar.TypeSymlink:
		return "symlink"
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeDir:
		return "directory"
	case tar.TypeFifo:
		return "fifo"
	}
	return fmt.Sprintf("type %q entry", t)
}
