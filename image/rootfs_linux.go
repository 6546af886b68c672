package image

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// RootFS is a read-only view of im's merged filesystem, without mounting
// anything: the layers are searched newest first, as overlayfs would, and
// honour its whiteouts (a 0/0 character device hides a name) and opaque
// directories (trusted.overlay.opaque=y hides what lower layers have
// below it). It serves small reads of the image's files such as
// /etc/passwd before the container exists. A symlink is followed only
// within the layer that holds it.
func (s *Store) RootFS(im *Image) (fs.FS, error) {
	dirs, err := s.LayerDirs(im)
	if err != nil {
		return nil, err
	}
	return &layeredFS{dirs: dirs}, nil
}

type layeredFS struct{ dirs []string }

var _ fs.FS = (*layeredFS)(nil)

func (l *layeredFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	parts := strings.Split(name, "/")
	for _, dir := range l.dirs {
		found, last := false, false
	walk:
		for i := range parts {
			p := filepath.Join(append([]string{dir}, parts[:i+1]...)...)
			var st unix.Stat_t
			if err := unix.Lstat(p, &st); err != nil {
				break walk // not in this layer; a lower one may have it
			}
			switch {
			case st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0:
				return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
			case i == len(parts)-1:
				found = true
			case st.Mode&unix.S_IFMT == unix.S_IFDIR && opaque(p):
				last = true
			}
		}
		if found {
			root, err := os.OpenRoot(dir)
			if err != nil {
				return nil, err
			}
			defer root.Close()
			return root.Open(name)
		}
		if last {
			break
		}
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

func opaque(dir string) bool {
	var b [1]byte
	n, err := unix.Lgetxattr(dir, "trusted.overlay.opaque", b[:])
	return err == nil && n == 1 && b[0] == 'y'
}
