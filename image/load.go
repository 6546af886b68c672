package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/minirun/minirun/image/archive"
)

// LoadOptions are load's flags.
type LoadOptions struct {
	Progress io.Writer
}

// dockerManifestEntry is one image of `docker save`'s manifest.json.
type dockerManifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// files is read access to an archive's members by name.
type files interface {
	open(name string) (io.ReadCloser, int64, error)
	has(name string) bool
}

// Load brings in the images of a `docker save` tar, an OCI archive (a tar
// of an OCI image layout), either of them gzip- or zstd-compressed, or an
// OCI image layout directory. Every blob is checked against its digest on
// the way in, exactly as for a pull.
func (s *Store) Load(ctx context.Context, src string, o LoadOptions) ([]*Image, error) {
	unlock, err := s.lockShared()
	if err != nil {
		return nil, err
	}
	defer unlock()
	s.cleanTmp()
	tmp, err := s.newTmp()
	if err != nil {
		return nil, err
	}
	defer tmp.remove()

	var fsys files
	st, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if st.IsDir() {
		root, err := os.OpenRoot(src)
		if err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		defer root.Close()
		fsys = dirFiles{root}
	} else {
		t, err := openTarFiles(src, tmp.path)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", src, err)
		}
		defer t.f.Close()
		fsys = t
	}
	prog := newProgress(o.Progress)
	defer prog.wait()
	var ims []*Image
	switch {
	case fsys.has("manifest.json") && !fsys.has("index.json"):
		ims, err = s.loadDocker(ctx, fsys, tmp, prog)
	case fsys.has("index.json"):
		ims, err = s.loadOCI(ctx, fsys, tmp, prog)
	default:
		err = errors.New("neither an OCI layout (index.json) nor a docker save archive (manifest.json)")
	}
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", src, err)
	}
	return ims, nil
}

// readAll reads a JSON member of the archive, which must not be larger
// than max: it is read into memory whole.
func readAll(fsys files, name string, max int64) ([]byte, error) {
	rc, size, err := fsys.open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if size > max {
		return nil, fmt.Errorf("%s: %d bytes is %w: minirun reads at most %s", name, size, errTooLarge, mib(max))
	}
	return io.ReadAll(io.LimitReader(rc, max))
}

func (s *Store) loadDocker(ctx context.Context, fsys files, tmp *tmpDir, prog progress) ([]*Image, error) {
	raw, err := readAll(fsys, "manifest.json", maxManifestSize)
	if err != nil {
		return nil, err
	}
	var entries []dockerManifestEntry
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	var out []*Image
	for _, e := range entries {
		if len(e.RepoTags) == 0 {
			return nil, fmt.Errorf("image %s has no name (RepoTags is empty)", e.Config)
		}
		if len(e.Layers) > maxLayers {
			return nil, fmt.Errorf("image %s lists %d layers, more than the %d overlayfs can stack", e.Config, len(e.Layers), maxLayers)
		}
		cfgRaw, err := readAll(fsys, e.Config, maxConfigSize)
		if err != nil {
			return nil, fmt.Errorf("config %s: %w", e.Config, err)
		}
		cfgDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfgRaw), Size: int64(len(cfgRaw))}
		var cfg ocispec.Image
		if err := json.Unmarshal(cfgRaw, &cfg); err != nil {
			return nil, fmt.Errorf("config %s: %w", e.Config, err)
		}
		if len(cfg.RootFS.DiffIDs) != len(e.Layers) {
			return nil, fmt.Errorf("config %s names %d layers, manifest.json %d", e.Config, len(cfg.RootFS.DiffIDs), len(e.Layers))
		}
		// docker save stores a layer as a plain tar (older versions) or as
		// the blob it pulled (blobs/sha256/<digest>, since 25.0). The OCI
		// manifest written here describes each layer as it is stored.
		man := ocispec.Manifest{Versioned: versioned(), MediaType: ocispec.MediaTypeImageManifest, Config: cfgDesc}
		layers := make([]layerSource, len(e.Layers))
		for i, name := range e.Layers {
			desc, err := describeMember(fsys, name, cfg.RootFS.DiffIDs[i])
			if err != nil {
				return nil, fmt.Errorf("layer %s: %w", name, err)
			}
			man.Layers = append(man.Layers, desc)
			layers[i] = layerSource{desc: desc, diffID: cfg.RootFS.DiffIDs[i], open: func(context.Context) (io.ReadCloser, error) {
				rc, _, err := fsys.open(name)
				return rc, err
			}}
		}
		var refs []Reference
		for _, tag := range e.RepoTags {
			ref, err := ParseReference(tag)
			if err != nil {
				return nil, err
			}
			refs = append(refs, ref)
		}
		manRaw, err := json.Marshal(man)
		if err != nil {
			return nil, err
		}
		release, err := s.ingestLayers(ctx, tmp, layers, defaultParallelPulls, prog)
		if err != nil {
			return nil, err
		}
		for _, ref := range refs {
			im, err := s.commit(ref.String(), manRaw, man.MediaType, cfgRaw, cfgDesc.Digest, "", nil, nil)
			if err != nil {
				release()
				return nil, err
			}
			out = append(out, im)
		}
		release()
	}
	return out, nil
}

// describeMember makes a layer descriptor for an archive member: its
// digest from its name when it is a blob path, else from its content; its
// media type from its first bytes.
func describeMember(fsys files, name string, diffID digest.Digest) (ocispec.Descriptor, error) {
	rc, size, err := fsys.open(name)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer rc.Close()
	br := bufio.NewReader(rc)
	head, _ := br.Peek(4)
	desc := ocispec.Descriptor{Size: size, MediaType: ocispec.MediaTypeImageLayer}
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		desc.MediaType = ocispec.MediaTypeImageLayerGzip
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		desc.MediaType = ocispec.MediaTypeImageLayerZstd
	}
	if d, ok := blobDigest(name); ok {
		desc.Digest = d
		return desc, nil
	}
	if desc.MediaType == ocispec.MediaTypeImageLayer {
		desc.Digest = diffID // checked while it streams in
		return desc, nil
	}
	dg := digest.SHA256.Digester()
	if _, err := io.Copy(dg.Hash(), br); err != nil {
		return ocispec.Descriptor{}, err
	}
	desc.Digest = dg.Digest()
	return desc, nil
}

func blobDigest(name string) (digest.Digest, bool) {
	dir, file := path.Split(path.Clean(name))
	if dir != "blobs/sha256/" {
		return "", false
	}
	d := digest.NewDigestFromEncoded(digest.SHA256, file)
	return d, d.Validate() == nil
}

func blobName(d digest.Digest) string {
	return path.Join("blobs", d.Algorithm().String(), d.Encoded())
}

func (s *Store) loadOCI(ctx context.Context, fsys files, tmp *tmpDir, prog progress) ([]*Image, error) {
	raw, err := readAll(fsys, "index.json", maxManifestSize)
	if err != nil {
		return nil, err
	}
	var idx ocispec.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	readBlob := func(d ocispec.Descriptor, max int64) ([]byte, error) {
		if err := checkDescriptor(d, max); err != nil {
			return nil, err
		}
		b, err := readAll(fsys, blobName(d.Digest), max)
		if err != nil {
			return nil, err
		}
		if got := d.Digest.Algorithm().FromBytes(b); got != d.Digest {
			return nil, fmt.Errorf("blob %s: %w (content is %s)", d.Digest, ErrDigest, got)
		}
		return b, nil
	}
	var out []*Image
	for _, d := range idx.Manifests {
		nameStr := d.Annotations["io.containerd.image.name"]
		if nameStr == "" {
			nameStr = d.Annotations[ocispec.AnnotationRefName]
		}
		if nameStr == "" {
			return nil, fmt.Errorf("manifest %s in index.json has no name (org.opencontainers.image.ref.name)", d.Digest)
		}
		ref, err := ParseReference(nameStr)
		if err != nil {
			return nil, err
		}
		manDesc, source := d, d.Digest
		var indexRaw []byte
		if d.MediaType == ocispec.MediaTypeImageIndex || d.MediaType == dockerManifestList {
			if indexRaw, err = readBlob(d, maxManifestSize); err != nil {
				return nil, err
			}
			var sub ocispec.Index
			if err := json.Unmarshal(indexRaw, &sub); err != nil {
				return nil, fmt.Errorf("index %s: %w", d.Digest, err)
			}
			if manDesc, err = matchPlatform(HostPlatform(), sub.Manifests); err != nil {
				return nil, fmt.Errorf("%s: %w", ref.Familiar(), err)
			}
			if t := manDesc.MediaType; t == ocispec.MediaTypeImageIndex || t == dockerManifestList {
				return nil, fmt.Errorf("%s: %w", ref.Familiar(), checkManifestType(t))
			}
		}
		manRaw, err := readBlob(manDesc, maxManifestSize)
		if err != nil {
			return nil, err
		}
		man, err := decodeManifest(manRaw)
		if err != nil {
			return nil, fmt.Errorf("%s: manifest %s: %w", ref.Familiar(), manDesc.Digest, err)
		}
		mediaType := cmpOr(man.MediaType, manDesc.MediaType, ocispec.MediaTypeImageManifest)
		cfgRaw, err := readBlob(man.Config, maxConfigSize)
		if err != nil {
			return nil, err
		}
		cfg, err := checkConfig(*man, cfgRaw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref.Familiar(), err)
		}
		layers := make([]layerSource, len(man.Layers))
		for i, l := range man.Layers {
			layers[i] = layerSource{desc: l, diffID: cfg.RootFS.DiffIDs[i], open: func(context.Context) (io.ReadCloser, error) {
				if err := l.Digest.Validate(); err != nil {
					return nil, err
				}
				rc, _, err := fsys.open(blobName(l.Digest))
				return rc, err
			}}
		}
		release, err := s.ingestLayers(ctx, tmp, layers, defaultParallelPulls, prog)
		if err != nil {
			return nil, err
		}
		if manRaw, mediaType, err = toOCI(manRaw, mediaType); err != nil {
			return nil, err
		}
		im, err := s.commit(ref.String(), manRaw, mediaType, cfgRaw, man.Config.Digest, source, indexRaw, nil)
		release()
		if err != nil {
			return nil, err
		}
		out = append(out, im)
	}
	return out, nil
}

func cmpOr(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// dirFiles reads an OCI layout directory. os.Root keeps every name
// inside it, whatever index.json says.
type dirFiles struct{ root *os.Root }

func (d dirFiles) open(name string) (io.ReadCloser, int64, error) {
	f, err := d.root.Open(name)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%s: not a regular file", name)
	}
	return f, st.Size(), nil
}

func (d dirFiles) has(name string) bool {
	_, err := d.root.Stat(name)
	return err == nil
}

// tarFiles reads members of a tar file in place: one pass records where
// each regular file's data starts, then a member is a section of the
// file. A compressed tar is first decompressed into a scratch file.
type tarFiles struct {
	f       *os.File
	members map[string]member
}

type member struct{ off, size int64 }

func openTarFiles(src, scratch string) (*tarFiles, error) {
	f, err := os.Open(src)
	if err != nil {
		return nil, err
	}
	var head [4]byte
	n, _ := io.ReadFull(f, head[:])
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	if n == 4 && (bytes.HasPrefix(head[:], []byte{0x1f, 0x8b}) || bytes.Equal(head[:], []byte{0x28, 0xb5, 0x2f, 0xfd})) {
		plain, err := decompressToFile(f, filepath.Join(scratch, "archive.tar"))
		f.Close()
		if err != nil {
			return nil, err
		}
		f = plain
	}
	t := &tarFiles{f: f, members: map[string]member{}}
	sr := &seekCounter{f: f}
	tr := tar.NewReader(sr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("not a tar archive: %w", err)
		}
		if hdr.Typeflag == tar.TypeReg {
			t.members[path.Clean(strings.TrimPrefix(hdr.Name, "./"))] = member{off: sr.pos, size: hdr.Size}
		}
	}
	return t, nil
}

func decompressToFile(f *os.File, dst string) (*os.File, error) {
	r, _, err := archive.Decompress(f)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	out, err := os.Create(dst)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return nil, err
	}
	return out, nil
}

func (t *tarFiles) open(name string) (io.ReadCloser, int64, error) {
	m, ok := t.members[path.Clean(name)]
	if !ok {
		return nil, 0, fmt.Errorf("%s: %w", name, os.ErrNotExist)
	}
	return io.NopCloser(io.NewSectionReader(t.f, m.off, m.size)), m.size, nil
}

func (t *tarFiles) has(name string) bool {
	_, ok := t.members[name]
	return ok
}

// seekCounter lets archive/tar skip file contents with Seek while keeping
// track of the offset, which is where the next member's data starts when
// Next returns.
type seekCounter struct {
	f   *os.File
	pos int64
}

func (s *seekCounter) Read(p []byte) (int, error) {
	n, err := s.f.Read(p)
	s.pos += int64(n)
	return n, err
}

func (s *seekCounter) Seek(off int64, whence int) (int64, error) {
	pos, err := s.f.Seek(off, whence)
	if err == nil {
		s.pos = pos
	}
	return pos, err
}
