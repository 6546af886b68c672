package testregistry

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"path"
	goruntime "runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/compression"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ModTime is the modification time of every file the builders write, and
// the creation time of every image: fixed, so that builds are reproducible
// (the same input gives the same digests).
var ModTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// File is one entry of a layer's tar archive, or of an image's merged tree.
type File struct {
	// Path is slash-separated and relative to the root ("bin/busybox").
	// Whiteouts are files named ".wh.NAME", opaque markers
	// "DIR/.wh..wh..opq" (the OCI image spec, layer.md).
	Path string
	// Mode holds the permission bits, fs.ModeSetuid, fs.ModeSetgid and
	// fs.ModeSticky, and the type: fs.ModeDir, fs.ModeSymlink, or none
	// for a regular file (a hardlink included).
	Mode     fs.FileMode
	UID, GID int
	Data     []byte // a regular file's content
	// Link is a symlink's target, or, with Hardlink, the path of the file
	// a hardlink shares its inode with (in the same layer).
	Link     string
	Hardlink bool
}

// Reg is a regular file owned by root.
func Reg(p, data string, perm fs.FileMode) File {
	return File{Path: p, Mode: perm, Data: []byte(data)}
}

// Dir is a directory owned by root.
func Dir(p string, perm fs.FileMode) File { return File{Path: p, Mode: fs.ModeDir | perm} }

// Symlink is a symbolic link p -> target.
func Symlink(p, target string) File { return File{Path: p, Mode: fs.ModeSymlink | 0o777, Link: target} }

// Hardlink is a hardlink p to target, which must come earlier in the
// same layer.
func Hardlink(p, target string) File { return File{Path: p, Link: target, Hardlink: true} }

// Whiteout deletes p (and, for a directory, what is below it) from the
// layers underneath.
func Whiteout(p string) File {
	dir, base := path.Split(p)
	return File{Path: dir + ".wh." + base, Mode: 0o644}
}

// Opaque hides from dir everything the layers underneath put there.
func Opaque(dir string) File { return File{Path: dir + "/.wh..wh..opq", Mode: 0o644} }

// Owned returns f owned by uid:gid.
func (f File) Owned(uid, gid int) File { f.UID, f.GID = uid, gid; return f }

// IsDir, IsSymlink and IsRegular tell f's type.
func (f File) IsDir() bool     { return f.Mode&fs.ModeDir != 0 }
func (f File) IsSymlink() bool { return f.Mode&fs.ModeSymlink != 0 }
func (f File) IsRegular() bool { return f.Mode&fs.ModeType == 0 }

// Format is the family of media types an image uses.
type Format int

const (
	// OCI: application/vnd.oci.image.manifest.v1+json, OCI config, layer
	// and index media types.
	OCI Format = iota
	// Docker: Docker image manifest v2 schema 2 and manifest list.
	Docker
)

func (f Format) String() string {
	if f == Docker {
		return "docker"
	}
	return "oci"
}

// Compression of the layer blobs.
type Compression int

const (
	Gzip Compression = iota
	Zstd             // OCI only: Docker has no media type for it
	Uncompressed
)

func (c Compression) String() string {
	switch c {
	case Zstd:
		return "zstd"
	case Uncompressed:
		return "uncompressed"
	}
	return "gzip"
}

// BuildOptions choose the media types and platform of a built image.
type BuildOptions struct {
	Format      Format
	Compression Compression
	// Platform goes into the config (os, architecture, variant); nil
	// means HostPlatform.
	Platform *v1.Platform
}

// HostPlatform is the platform of this machine's images: linux with
// GOARCH, and variant v8 on arm64 as registries list it.
func HostPlatform() v1.Platform {
	p := v1.Platform{OS: "linux", Architecture: goruntime.GOARCH}
	if p.Architecture == "arm64" {
		p.Variant = "v8"
	}
	return p
}

// Layer is one layer of a built image, as the tests may check it in a
// store: the blob (Digest, Size, MediaType) and what it unpacks to.
type Layer struct {
	// Files are the tar entries in archive order, whiteouts included, with
	// the parent directories the builder added.
	Files     []File
	Digest    v1.Hash // of the blob as stored (compressed), in the manifest
	DiffID    v1.Hash // of the uncompressed tar, in the config's rootfs
	MediaType types.MediaType
	Size      int64
}

// Image is a built image with what tests need to check a pull of it.
// Push Image.Image with Registry.Push.
type Image struct {
	Image    v1.Image
	Layers   []Layer
	Platform v1.Platform
	tree     []File
}

// Tree is the image's file system after applying its layers in order,
// sorted by path: what unpacking and stacking the layers must show. Hardlinks
// appear with their target's content and metadata and Hardlink set.
// Nil for an image built without file lists (BenchImage).
func (im *Image) Tree() []File { return im.tree }

// ManifestDigest is the image's manifest digest, failing t on error.
func (im *Image) ManifestDigest(t testing.TB) v1.Hash {
	t.Helper()
	h, err := im.Image.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// NewImage builds an image from layers (each a list of tar entries, in
// order) and cfg. Entries whose parent directories the same layer lacks get
// them added first, with the metadata the directory has in the layers
// below or 0755 root:root, as docker's layer diffs carry them. Paths that
// are not clean and relative are written as given, for hostile archives.
func NewImage(t testing.TB, layers [][]File, cfg v1.Config, opts BuildOptions) *Image {
	t.Helper()
	if opts.Format == Docker && opts.Compression == Zstd {
		t.Fatalf("testregistry: Docker media types have no zstd layer")
	}
	platform := HostPlatform()
	if opts.Platform != nil {
		platform = *opts.Platform
	}

	img := empty.Image
	if opts.Format == OCI {
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	}
	im := &Image{Platform: platform}
	tree := map[string]File{}
	for i, files := range layers {
		files = withParents(files, tree)
		blob, err := tarLayer(files)
		if err != nil {
			t.Fatalf("build layer %d: %v", i+1, err)
		}
		layer, err := newLayer(blob, opts)
		if err != nil {
			t.Fatalf("build layer %d: %v", i+1, err)
		}
		img, err = mutate.Append(img, mutate.Addendum{
			Layer: layer,
			History: v1.History{
				Created:   v1.Time{Time: ModTime},
				CreatedBy: fmt.Sprintf("testregistry layer %d", i+1),
			},
		})
		if err != nil {
			t.Fatalf("append layer %d: %v", i+1, err)
		}
		l := Layer{Files: files}
		if l.Digest, err = layer.Digest(); err == nil {
			if l.DiffID, err = layer.DiffID(); err == nil {
				if l.MediaType, err = layer.MediaType(); err == nil {
					l.Size, err = layer.Size()
				}
			}
		}
		if err != nil {
			t.Fatalf("describe layer %d: %v", i+1, err)
		}
		im.Layers = append(im.Layers, l)
		apply(tree, files)
	}
	img = withConfig(t, img, cfg, platform)
	im.Image = img
	im.tree = sortedTree(tree)
	return im
}

func withConfig(t testing.TB, img v1.Image, cfg v1.Config, platform v1.Platform) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config = cfg
	cf.OS = platform.OS
	cf.Architecture = platform.Architecture
	cf.Variant = platform.Variant
	cf.OSVersion = platform.OSVersion
	cf.Created = v1.Time{Time: ModTime}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// newLayer compresses a tar as opts ask. go-containerregistry's gzip
// (compress/gzip, no timestamp in the header) and zstd (klauspost) give
// the same bytes for the same tar, so digests are stable.
func newLayer(blob []byte, opts BuildOptions) (v1.Layer, error) {
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(blob)), nil }
	switch opts.Compression {
	case Uncompressed:
		mt := types.OCIUncompressedLayer
		if opts.Format == Docker {
			mt = types.DockerUncompressedLayer
		}
		return static.NewLayer(blob, mt), nil
	case Zstd:
		return tarball.LayerFromOpener(open, tarball.WithCompression(compression.ZStd),
			tarball.WithMediaType(types.OCILayerZStd), tarball.WithCompressedCaching)
	default:
		mt := types.OCILayer
		if opts.Format == Docker {
			mt = types.DockerLayer
		}
		return tarball.LayerFromOpener(open, tarball.WithMediaType(mt), tarball.WithCompressedCaching)
	}
}

// cleanRel reports whether p is a clean relative path inside the root.
func cleanRel(p string) bool {
	return p != "" && p != "." && !path.IsAbs(p) && path.Clean(p) == p &&
		p != ".." && !strings.HasPrefix(p, "../")
}

// withParents returns files with the missing parent directories inserted
// before their first child.
func withParents(files []File, lower map[string]File) []File {
	have := map[string]bool{}
	for _, f := range files {
		if f.IsDir() {
			have[f.Path] = true
		}
	}
	var out []File
	for _, f := range files {
		if cleanRel(f.Path) {
			parts := strings.Split(f.Path, "/")
			for i := 1; i < len(parts); i++ {
				dir := strings.Join(parts[:i], "/")
				if have[dir] {
					continue
				}
				have[dir] = true
				d, ok := lower[dir]
				if !ok || !d.IsDir() {
					d = Dir(dir, 0o755)
				}
				out = append(out, File{Path: dir, Mode: d.Mode, UID: d.UID, GID: d.GID})
			}
		}
		out = append(out, f)
	}
	return out
}

// tarLayer writes files as a tar archive.
func tarLayer(files []File) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		if err := tw.WriteHeader(tarHeader(f)); err != nil {
			return nil, fmt.Errorf("write %s: %w", f.Path, err)
		}
		if f.IsRegular() && !f.Hardlink {
			if _, err := tw.Write(f.Data); err != nil {
				return nil, fmt.Errorf("write %s: %w", f.Path, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func tarHeader(f File) *tar.Header {
	h := &tar.Header{
		Name:     f.Path,
		Mode:     tarMode(f.Mode),
		Uid:      f.UID,
		Gid:      f.GID,
		ModTime:  ModTime,
		Typeflag: tar.TypeReg,
		Format:   tar.FormatPAX,
	}
	switch {
	case f.Hardlink:
		h.Typeflag, h.Linkname = tar.TypeLink, f.Link
	case f.IsDir():
		h.Typeflag = tar.TypeDir
		if !strings.HasSuffix(h.Name, "/") {
			h.Name += "/"
		}
	case f.IsSymlink():
		h.Typeflag, h.Linkname = tar.TypeSymlink, f.Link
	default:
		h.Size = int64(len(f.Data))
	}
	return h
}

// tarMode is the tar (and stat) form of the permission and special bits.
func tarMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

// apply lays one layer's entries over tree, as the OCI image spec's
// "Applying Changesets" says: whiteouts and opaque markers remove what the
// layers below put there (never the same layer's entries), then the
// entries are added; a non-directory replaces what was at its path,
// children included, and a directory over a directory only changes its
// metadata.
func apply(tree map[string]File, files []File) {
	removeBelow := func(p string) {
		for k := range tree {
			if strings.HasPrefix(k, p+"/") {
				delete(tree, k)
			}
		}
	}
	for _, f := range files {
		dir, base := path.Split(f.Path)
		dir = strings.TrimSuffix(dir, "/")
		switch {
		case base == ".wh..wh..opq":
			if dir == "" {
				clear(tree)
			} else {
				removeBelow(dir)
			}
		case strings.HasPrefix(base, ".wh."):
			p := path.Join(dir, strings.TrimPrefix(base, ".wh."))
			delete(tree, p)
			removeBelow(p)
		}
	}
	for _, f := range files {
		if strings.HasPrefix(path.Base(f.Path), ".wh.") {
			continue
		}
		f.Path = strings.TrimSuffix(f.Path, "/")
		old, exists := tree[f.Path]
		if exists && old.IsDir() && !f.IsDir() {
			removeBelow(f.Path)
		}
		if f.Hardlink {
			target := tree[f.Link]
			f.Mode, f.UID, f.GID, f.Data = target.Mode, target.UID, target.GID, target.Data
		}
		tree[f.Path] = f
	}
}

func sortedTree(tree map[string]File) []File {
	out := make([]File, 0, len(tree))
	for _, f := range tree {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}
