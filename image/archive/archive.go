package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"path"
	"strings"
	"syscall"
)

// Options changes what Apply does with what not every caller may do.
// The zero value is for a root caller: owners and device nodes as the
// archive says.
type Options struct {
	// NoChown leaves every entry owned by the caller instead of the
	// archive's uid and gid, for callers without CAP_CHOWN (tests,
	// rootless use).
	NoChown bool
	// NoDevices skips character and block device entries, which need
	// CAP_MKNOD, counting them in Stats.Skipped. Whiteouts (0/0 character
	// devices) are still made: the kernel allows those to anyone.
	NoDevices bool
}

// Stats says what Apply did.
type Stats struct {
	// Entries is the number of tar entries applied, whiteouts and opaque
	// markers included.
	Entries int
	// Skipped counts entries deliberately left out: the archive's root
	// entry ("./"), aufs metadata (".wh..wh.*"), PAX global headers, and
	// device nodes under Options.NoDevices.
	Skipped int
	// Whiteouts counts the whiteouts and opaque markers among Entries.
	Whiteouts int
	// Bytes is the file content written, in bytes.
	Bytes int64
	// XattrsSkipped counts extended attributes not set: overlay's own
	// (trusted.overlay.*, user.overlay.*) and those the kernel refused
	// (see the package documentation).
	XattrsSkipped int
}

// Errors that callers may test for with errors.Is. Each comes wrapped in
// an *EntryError.
var (
	// ErrUnsafePath: an entry's name leaves the layer directory: it is
	// absolute, has a ".." component, crosses a symlink, or would replace
	// the layer directory itself.
	ErrUnsafePath = errors.New("path escapes the layer directory")
	// ErrBadLink: a hardlink's target is outside the layer, not (yet) in
	// it, reached through a symlink, or a directory.
	ErrBadLink = errors.New("bad hardlink")
	// ErrUnsupported: an entry of a kind Apply does not create (a sparse
	// file, a tape volume header, an unknown type flag).
	ErrUnsupported = errors.New("unsupported entry")
)

// EntryError is a failure to apply one entry. Name is the entry's name as
// the archive spells it.
type EntryError struct {
	Name string
	Err  error
}

func (e *EntryError) Error() string {
	name := e.Name
	if len(name) > maxShownName {
		// A name of kilobytes, which is how ENAMETOOLONG comes, would
		// drown the message; Name has it whole.
		name = fmt.Sprintf("%s...(%d bytes)", name[:maxShownName], len(name))
	}
	return fmt.Sprintf("layer entry %q: %v", name, e.Err)
}

const maxShownName = 256

func (e *EntryError) Unwrap() error { return e.Err }

// Linux's limits (limits.h): PATH_MAX counts the terminating NUL.
const (
	pathMax = 4096
	nameMax = 255
)

// cleanName turns a tar name into a clean path relative to the layer
// directory ("." for the directory itself), or says why it cannot be one.
// ".." is refused even where path.Clean would fold it away ("a/../b"):
// no layer writer produces it, and a name that climbs is a name that
// was built to.
func cleanName(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("%w: absolute name", ErrUnsafePath)
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("%w: NUL byte in name", ErrUnsafePath)
	}
	for c := range strings.SplitSeq(name, "/") {
		if c == ".." {
			return "", fmt.Errorf("%w: \"..\" in name", ErrUnsafePath)
		}
	}
	p := path.Clean(name)
	if len(p) >= pathMax {
		return "", fmt.Errorf("name of %d bytes: %w", len(p), syscall.ENAMETOOLONG)
	}
	for c := range strings.SplitSeq(p, "/") {
		if len(c) > nameMax {
			return "", fmt.Errorf("name component of %d bytes: %w", len(c), syscall.ENAMETOOLONG)
		}
	}
	return p, nil
}

// Whiteout names, from the OCI image spec (layer.md) and aufs before it.
const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// kind is what a clean name means before its type flag is looked at.
type kind int

const (
	kindPlain    kind = iota // an ordinary entry
	kindWhiteout             // ".wh.NAME": NAME is deleted
	kindOpaque               // ".wh..wh..opq": the directory is opaque
	kindMeta                 // aufs bookkeeping, skipped
)

// classify tells whiteouts from ordinary names. For a whiteout it returns
// the name it deletes, relative to the same directory.
func classify(p string) (kind, string, error) {
	dir, base := path.Split(p)
	// aufs kept hardlink targets in /.wh..wh.plnk/; skip the whole tree,
	// not only its directory entry.
	for c := range strings.SplitSeq(strings.TrimSuffix(dir, "/"), "/") {
		if strings.HasPrefix(c, whiteoutMeta) {
			return kindMeta, "", nil
		}
	}
	switch {
	case base == whiteoutOpaque:
		return kindOpaque, "", nil
	case strings.HasPrefix(base, whiteoutMeta):
		return kindMeta, "", nil
	case strings.HasPrefix(base, whiteoutPrefix):
		target := base[len(whiteoutPrefix):]
		// ".wh..." would delete "..": the parent of the directory, which
		// a careless RemoveAll would take with it.
		if target == "" || target == "." || target == ".." {
			return 0, "", fmt.Errorf("%w: whiteout of %q", ErrUnsafePath, target)
		}
		return kindWhiteout, target, nil
	}
	return kindPlain, "", nil
}

// Ranges the kernel can represent: uid_t and gid_t are 32 bits and
// (uid_t)-1 means "leave unchanged" to chown(2); a dev_t in the form
// mknod(2) takes has a 12-bit major and a 20-bit minor number.
const (
	maxID    = 1<<32 - 2
	maxMajor = 1<<12 - 1
	maxMinor = 1<<20 - 1
)

// validate checks what can be checked in the header alone, so that an
// entry is refused before anything is written for it.
func validate(hdr *tar.Header) error {
	if isSparse(hdr) {
		return fmt.Errorf("%w: sparse file", ErrUnsupported)
	}
	switch hdr.Typeflag {
	// archive/tar has already turned the old TypeRegA into TypeReg or
	// TypeDir. TypeCont, "contiguous file", is a regular file to anyone
	// but a 1980s tape drive.
	case tar.TypeReg, tar.TypeCont, tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeFifo:
	case tar.TypeChar, tar.TypeBlock:
		if hdr.Devmajor < 0 || hdr.Devmajor > maxMajor || hdr.Devminor < 0 || hdr.Devminor > maxMinor {
			return fmt.Errorf("device number %d:%d out of range", hdr.Devmajor, hdr.Devminor)
		}
	default:
		return fmt.Errorf("%w: type flag %q", ErrUnsupported, hdr.Typeflag)
	}
	if hdr.Uid < 0 || int64(hdr.Uid) > maxID || hdr.Gid < 0 || int64(hdr.Gid) > maxID {
		return fmt.Errorf("owner %d:%d out of range", hdr.Uid, hdr.Gid)
	}
	return nil
}

// isSparse reports a sparse entry, old GNU ('S') or PAX (GNU.sparse.*
// records), including the PAX versions archive/tar does not recognise.
func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// xattrPrefix marks an extended attribute in a PAX header.
const xattrPrefix = "SCHILY.xattr."

// isOverlayXattr reports an attribute in overlayfs's own namespaces.
// Redirects, metacopy and origin attributes steer overlay's lookups and
// data; only the whiteout conversion decides those.
func isOverlayXattr(name string) bool {
	return strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.")
}
