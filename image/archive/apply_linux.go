package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sync"

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
