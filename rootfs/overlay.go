package rootfs

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Overlay is a root filesystem made of image layers.
type Overlay struct {
	Lower []string // layer directories, newest (topmost) first; absolute host paths
	Upper string   // the container's writable layer (an empty dir at first)
	Work  string   // overlayfs's work dir, on the same filesystem as Upper
}

// maxLayers is overlayfs's own limit on lower layers (OVL_MAX_STACK in
// fs/overlayfs); past it the kernel answers a bare EINVAL.
const maxLayers = 500

// maxOverlayPath is the longest path the overlay takes, in bytes.
// fsconfig(2) copies a string value of at most 256 bytes, its NUL
// included, and the same Overlay must mount through either code path.
const maxOverlayPath = 255

// overlaySpecial are the bytes that the overlay's option strings give a
// meaning: ':' separates lower layers (and "::" starts data-only ones),
// ',' separates mount options, '\' escapes the next byte. The kernel's
// unescaping differs between versions and between the option string,
// "lowerdir+" (taken as is) and "upperdir"/"workdir" (unescaped even
// through fsconfig(2)), so such paths are refused rather than escaped.
// Layer directories are named by digest and never contain them.
const overlaySpecial = `:,\`

// Validate checks what can be checked without the kernel: at least one
// layer and at most overlayfs's limit, every path absolute, clean, at most
// 255 bytes and free of ':', ',' and '\', and Upper and Work both set or
// both empty (no Upper: a read-only overlay, which the kernel builds only
// from two layers or more). The rules the kernel checks at mount time
// (Upper and Work on the same filesystem, on one that supports overlay's
// xattrs and whiteouts; Work empty) are the kernel's to report.
func (o *Overlay) Validate() error {
	if o == nil {
		return errors.New("overlay: none given")
	}
	switch n := len(o.Lower); {
	case n == 0:
		return errors.New("overlay: no lower layers")
	case n > maxLayers:
		return fmt.Errorf("overlay: %d lower layers, overlayfs takes at most %d", n, maxLayers)
	case n == 1 && o.Upper == "" && o.Work == "":
		return errors.New("overlay: a read-only overlay (no upper) needs two lower layers or more")
	}
	for i, l := range o.Lower {
		if err := checkOverlayPath(l); err != nil {
			return fmt.Errorf("overlay lower layer %d: %w", i, err)
		}
	}
	if (o.Upper == "") != (o.Work == "") {
		return fmt.Errorf("overlay: upper %q and work %q: give both or neither", o.Upper, o.Work)
	}
	if o.Upper == "" {
		return nil
	}
	if err := checkOverlayPath(o.Upper); err != nil {
		return fmt.Errorf("overlay upper: %w", err)
	}
	if err := checkOverlayPath(o.Work); err != nil {
		return fmt.Errorf("overlay work: %w", err)
	}
	if o.Upper == o.Work {
		return fmt.Errorf("overlay: upper and work are both %q: they must be two directories", o.Upper)
	}
	return nil
}

func checkOverlayPath(p string) error {
	switch {
	case !path.IsAbs(p) || path.Clean(p) != p:
		return fmt.Errorf("%q: must be an absolute, clean path", p)
	case len(p) > maxOverlayPath:
		return fmt.Errorf("%.40q...: %d bytes, longer than the %d fsconfig(2) takes", p, len(p), maxOverlayPath)
	case strings.ContainsAny(p, overlaySpecial):
		return fmt.Errorf("%q: ':', ',' and '\\' are separators in overlay options", p)
	}
	return nil
}

// overlayData returns the data argument of mount(2) for an overlay, for a
// kernel without "lowerdir+": lower are the names the kernel resolves for
// each layer, topmost first. mount(2) copies at most one page of data
// (copy_mount_options), NUL included; a longer string is an error here
// rather than a truncated one there.
func overlayData(lower []string, upper, work string, pageSize int) (string, error) {
	var b strings.Builder
	b.WriteString("lowerdir=")
	b.WriteString(strings.Join(lower, ":"))
	if upper != "" {
		b.WriteString(",upperdir=" + upper + ",workdir=" + work)
	}
	if b.Len() >= pageSize {
		return "", fmt.Errorf("%d layers: the mount options take %d bytes, more than the %d of a page that mount(2) copies (a kernel with lowerdir+, 6.8 or later, has no such limit)", len(lower), b.Len()+1, pageSize)
	}
	return b.String(), nil
}
