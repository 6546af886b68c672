package image

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/minirun/minirun/internal/explain"
)

// DefaultRoot is where images live unless --store or MINIRUN_STORE says
// otherwise.
const DefaultRoot = "/var/lib/minirun"

// Sentinel errors callers branch on.
var (
	ErrNotFound    = errors.New("no such image")
	ErrAmbiguous   = errors.New("ambiguous image ID prefix")
	ErrInUse       = errors.New("image is in use by a container")
	ErrUnsupported = errors.New("unsupported")
	ErrDigest      = errors.New("digest mismatch")
)

// Annotations minirun adds to its index.json entries, next to the OCI
// layout's own org.opencontainers.image.ref.name.
const (
	// annotSource is the digest the registry answered for the name: an
	// index's digest when the image came from a multi-platform index, so
	// a later pull can compare it with a HEAD request alone.
	annotSource = "io.minirun.image.source-digest"
	// annotCreated is when the name was written into the store.
	annotCreated = "io.minirun.image.stored"
)

// Store is a content-addressed image store: an OCI image layout (blobs,
// index.json) plus one unpacked directory per layer.
//
//	ROOT/oci-layout                     {"imageLayoutVersion":"1.0.0"}
//	ROOT/index.json                     one manifest per image name
//	ROOT/blobs/sha256/<hex>             manifests, configs, layers as pulled
//	ROOT/layers/sha256/<diffID hex>/fs  a layer unpacked, in overlayfs form
//	ROOT/layers/sha256/<diffID hex>/complete   written last
//	ROOT/tmp/                           everything before it is renamed in
//	ROOT/lock                           flock(2) and OFD locks, see lock_linux.go
type Store struct {
	root string
	log  *slog.Logger
	// Explain receives each layer fetched and unpacked (--explain). nil:
	// none.
	Explain *explain.Sink
}

// Image is one named image in the store.
type Image struct {
	// Name is the full reference, as in index.json:
	// docker.io/library/alpine:latest.
	Name string
	// Digest is the manifest's digest (docker's RepoDigest).
	Digest digest.Digest
	// ID is the config's digest, docker's IMAGE ID.
	ID digest.Digest
	// Source is what the registry calls this image; it differs from
	// Digest when the image was picked from a multi-platform index.
	Source   digest.Digest
	Stored   time.Time
	Manifest ocispec.Manifest
	Config   ocispec.Image
	// RawManifest and RawConfig are the blobs as stored, byte for byte.
	RawManifest []byte
	RawConfig   []byte
}

// Size is the sum of the layers' sizes as stored (compressed, usually).
func (im *Image) Size() int64 {
	var n int64
	for _, l := range im.Manifest.Layers {
		n += l.Size
	}
	return n
}

// Open opens the store at root, creating an empty OCI layout there if
// there is none. Every file a later operation locks or rewrites is made
// here, so that a failed pull leaves the store exactly as it was.
func Open(root string, log *slog.Logger) (*Store, error) {
	if root == "" {
		root = DefaultRoot
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	s := &Store{root: root, log: log}
	for _, d := range []string{"blobs/sha256", "layers/sha256", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, fmt.Errorf("image store: %w", err)
		}
	}
	if err := createIfMissing(filepath.Join(root, ocispec.ImageLayoutFile),
		[]byte(`{"imageLayoutVersion":"`+ocispec.ImageLayoutVersion+`"}`)); err != nil {
		return nil, err
	}
	if err := createIfMissing(filepath.Join(root, "index.json"),
		mustJSON(ocispec.Index{Versioned: versioned(), MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}})); err != nil {
		return nil, err
	}
	if err := createIfMissing(filepath.Join(root, "lock"), nil); err != nil {
		return nil, err
	}
	return s, nil
}

// Root is the store's directory.
func (s *Store) Root() string { return s.root }

func createIfMissing(path string, data []byte) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := writeFileAtomic(path, data); err != nil {
		return fmt.Errorf("image store: %w", err)
	}
	return nil
}

// writeFileAtomic writes data under a temporary name in the same directory
// and renames it into place: rename(2) replaces the old file in one step,
// so a reader sees the old content or the new, never half of either.
func writeFileAtomic(path string, data []byte) error {
	return writeAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeAtomic is writeFileAtomic for content that write produces.
func writeAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func versioned() (v struct {
	SchemaVersion int `json:"schemaVersion"`
}) {
	v.SchemaVersion = 2
	return v
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func (s *Store) blobPath(d digest.Digest) string {
	return filepath.Join(s.root, "blobs", d.Algorithm().String(), d.Encoded())
}

func (s *Store) layerDir(diffID digest.Digest) string {
	return filepath.Join(s.root, "layers", diffID.Algorithm().String(), diffID.Encoded())
}

// LayerFS is the directory holding a layer's files, the one overlayfs
// takes as a lowerdir.
func (s *Store) LayerFS(diffID digest.Digest) string { return filepath.Join(s.layerDir(diffID), "fs") }

func (s *Store) hasBlob(d digest.Digest) bool {
	_, err := os.Stat(s.blobPath(d))
	return err == nil
}

// layerComplete reports whether a layer was unpacked to the end: its
// "complete" marker is the last thing written before the directory is
// renamed into place.
func (s *Store) layerComplete(diffID digest.Digest) bool {
	_, err := os.Stat(filepath.Join(s.layerDir(diffID), "complete"))
	return err == nil
}

// readBlob reads a blob and checks it against its digest: the store trusts
// nothing it did not verify, not even its own files.
func (s *Store) readBlob(d digest.Digest) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("blob %q: %w", d, err)
	}
	b, err := os.ReadFile(s.blobPath(d))
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", d, err)
	}
	if got := d.Algorithm().FromBytes(b); got != d {
		return nil, fmt.Errorf("blob %s: %w (content is %s)", d, ErrDigest, got)
	}
	return b, nil
}

// readIndex reads index.json.
func (s *Store) readIndex() (*ocispec.Index, error) {
	b, err := os.ReadFile(filepath.Join(s.root, "index.json"))
	if err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("image store: index.json: %w", err)
	}
	return &idx, nil
}

func (s *Store) writeIndex(idx *ocispec.Index) error {
	if idx.Manifests == nil {
		idx.Manifests = []ocispec.Descriptor{}
	}
	slices.SortFunc(idx.Manifests, func(a, b ocispec.Descriptor) int {
		return strings.Compare(a.Annotations[ocispec.AnnotationRefName], b.Annotations[ocispec.AnnotationRefName])
	})
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(s.root, "index.json"), append(b, '\n'))
}

// setName points name at the manifest desc in index.json, replacing what
// it pointed at before.
func (s *Store) setName(name string, desc ocispec.Descriptor, source digest.Digest) error {
	unlock, err := s.lockIndex()
	if err != nil {
		return err
	}
	defer unlock()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	idx.Manifests = slices.DeleteFunc(idx.Manifests, func(d ocispec.Descriptor) bool {
		return d.Annotations[ocispec.AnnotationRefName] == name
	})
	desc.Annotations = map[string]string{
		ocispec.AnnotationRefName: name,
		annotCreated:              time.Now().UTC().Format(time.RFC3339Nano),
	}
	if source != "" && source != desc.Digest {
		desc.Annotations[annotSource] = source.String()
	}
	idx.Manifests = append(idx.Manifests, desc)
	return s.writeIndex(idx)
}

// List returns every named image, sorted by name.
func (s *Store) List() ([]*Image, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	var out []*Image
	for _, d := range idx.Manifests {
		im, err := s.load(d)
		if err != nil {
			return nil, err
		}
		out = append(out, im)
	}
	return out, nil
}

func (s *Store) load(d ocispec.Descriptor) (*Image, error) {
	name := d.Annotations[ocispec.AnnotationRefName]
	im := &Image{Name: name, Digest: d.Digest, Source: d.Digest}
	if src := d.Annotations[annotSource]; src != "" {
		im.Source = digest.Digest(src)
	}
	if t, err := time.Parse(time.RFC3339Nano, d.Annotations[annotCreated]); err == nil {
		im.Stored = t
	}
	var err error
	if im.RawManifest, err = s.readBlob(d.Digest); err != nil {
		return nil, fmt.Errorf("image %s: %w", name, err)
	}
	if err := json.Unmarshal(im.RawManifest, &im.Manifest); err != nil {
		return nil, fmt.Errorf("image %s: manifest: %w", name, err)
	}
	im.ID = im.Manifest.Config.Digest
	if im.RawConfig, err = s.readBlob(im.ID); err != nil {
		return nil, fmt.Errorf("image %s: %w", name, err)
	}
	if err := json.Unmarshal(im.RawConfig, &im.Config); err != nil {
		return nil, fmt.Errorf("image %s: config: %w", name, err)
	}
	return im, nil
}

// Get finds an image by name (as users write it: "alpine"), by ID or a
// unique prefix of it (docker's IMAGE ID column), or by manifest digest.
func (s *Store) Get(ref string) (*Image, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	if r, err := ParseReference(ref); err == nil {
		for _, d := range idx.Manifests {
			if d.Annotations[ocispec.AnnotationRefName] == r.String() {
				return s.load(d)
			}
		}
		// name@digest: the digest decides, as docker does.
		if dg := r.Digest(); dg != "" {
			for _, d := range idx.Manifests {
				if d.Digest == dg {
					return s.load(d)
				}
			}
		}
	}
	if !looksLikeID(ref) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, ref)
	}
	prefix := strings.TrimPrefix(ref, "sha256:")
	var found *Image
	for _, d := range idx.Manifests {
		im, err := s.load(d)
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(im.ID.Encoded(), prefix) || strings.HasPrefix(im.Digest.Encoded(), prefix) {
			if found != nil && found.ID != im.ID {
				return nil, fmt.Errorf("%w: %s", ErrAmbiguous, ref)
			}
			if found == nil {
				found = im
			}
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, ref)
	}
	return found, nil
}

// LayerDirs returns the unpacked layer directories of im, newest first:
// the order of overlayfs's lowerdir.
func (s *Store) LayerDirs(im *Image) ([]string, error) {
	ids := im.Config.RootFS.DiffIDs
	dirs := make([]string, 0, len(ids))
	for i := len(ids) - 1; i >= 0; i-- {
		if !s.layerComplete(ids[i]) {
			return nil, fmt.Errorf("image %s: layer %s is not unpacked (pull it again)", im.Name, ids[i])
		}
		dirs = append(dirs, s.LayerFS(ids[i]))
	}
	return dirs, nil
}

// tmpDir is a scratch directory under ROOT/tmp for one operation. Its
// lock file is held (flock) for as long as the operation runs, so that
// cleanTmp can tell an abandoned directory from one still in use.
type tmpDir struct {
	path string
	lock *os.File
}

func (s *Store) newTmp() (*tmpDir, error) {
	var b [8]byte
	rand.Read(b[:])
	p := filepath.Join(s.root, "tmp", hex.EncodeToString(b[:]))
	if err := os.Mkdir(p, 0o700); err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	f, err := lockTmp(p)
	if err != nil {
		os.RemoveAll(p)
		return nil, err
	}
	return &tmpDir{path: p, lock: f}, nil
}

func (t *tmpDir) remove() {
	os.RemoveAll(t.path)
	t.lock.Close()
}

// cleanTmp removes what operations killed mid-way left in ROOT/tmp:
// every directory whose lock nobody holds.
func (s *Store) cleanTmp() {
	ents, err := os.ReadDir(filepath.Join(s.root, "tmp"))
	if err != nil {
		return
	}
	for _, e := range ents {
		p := filepath.Join(s.root, "tmp", e.Name())
		if stale, _ := tmpIsStale(p); stale {
			s.log.Debug("remove abandoned temporary directory", "path", p)
			os.RemoveAll(p)
		}
	}
}

// copyVerified copies r to w and fails unless what went through has the
// digest want (and size, when size >= 0).
func copyVerified(w io.Writer, r io.Reader, want digest.Digest, size int64) (int64, error) {
	v := want.Verifier()
	n, err := io.Copy(io.MultiWriter(w, v), r)
	if err != nil {
		return n, err
	}
	if size >= 0 && n != size {
		return n, fmt.Errorf("blob %s: size %d, expected %d", want, n, size)
	}
	if !v.Verified() {
		return n, fmt.Errorf("blob %s: %w", want, ErrDigest)
	}
	return n, nil
}

// writeBlob stores data as the blob d after checking its digest.
func (s *Store) writeBlob(d digest.Digest, data []byte) error {
	if got := d.Algorithm().FromBytes(data); got != d {
		return fmt.Errorf("blob %s: %w (content is %s)", d, ErrDigest, got)
	}
	if s.hasBlob(d) {
		return nil
	}
	return writeFileAtomic(s.blobPath(d), data)
}
