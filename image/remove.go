package image

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// InUseFunc tells which manifests containers use, with the containers'
// names, so that rmi refuses to pull an image from under them and garbage
// collection keeps their layers.
type InUseFunc func() (map[digest.Digest][]string, error)

// RemoveOptions are rmi's flags.
type RemoveOptions struct {
	// Force removes names even of images containers use (the layers stay
	// until the last such container is gone) and every name of an image
	// given by ID.
	Force bool
	InUse InUseFunc
}

// Removed says what Remove and Prune did.
type Removed struct {
	Untagged []string
	Deleted  []digest.Digest // blobs
	Layers   int             // unpacked layer directories
	Bytes    int64           // reclaimed, blobs and layer dirs
}

// Remove removes images by name or ID and then everything no remaining
// image (or container) references.
func (s *Store) Remove(refs []string, o RemoveOptions) (*Removed, error) {
	unlock, inUse, idx, err := s.beginCollect(o)
	if err != nil {
		return nil, err
	}
	defer unlock()
	res := &Removed{}
	for _, ref := range refs {
		im, err := s.Get(ref)
		if err != nil {
			return res, err
		}
		names := []string{im.Name}
		if r, err := ParseReference(ref); err != nil || r.String() != im.Name {
			// Given by ID: every name of that image goes.
			names = namesOf(idx, im.Digest)
			if len(names) > 1 && !o.Force {
				return res, fmt.Errorf("image %s has several names (%s): remove them one by one, or use -f", ref, strings.Join(names, ", "))
			}
		}
		if users := inUse[im.Digest]; len(users) > 0 && !o.Force {
			return res, fmt.Errorf("%w: %s is used by %s (stop and remove it, or use -f)", ErrInUse, ref, strings.Join(users, ", "))
		}
		idx.Manifests = slices.DeleteFunc(idx.Manifests, func(d ocispec.Descriptor) bool {
			return slices.Contains(names, d.Annotations[ocispec.AnnotationRefName])
		})
		res.Untagged = append(res.Untagged, names...)
	}
	unlockIdx, err := s.lockIndex()
	if err != nil {
		return res, err
	}
	err = s.writeIndex(idx)
	unlockIdx()
	if err != nil {
		return res, err
	}
	return res, s.collect(idx, inUse, res)
}

// Prune removes every blob and layer directory that no image name and no
// container references: what rmi -f left behind a container, and what an
// interrupted operation left in tmp/.
func (s *Store) Prune(o RemoveOptions) (*Removed, error) {
	unlock, inUse, idx, err := s.beginCollect(o)
	if err != nil {
		return nil, err
	}
	defer unlock()
	s.cleanTmp()
	res := &Removed{}
	return res, s.collect(idx, inUse, res)
}

// beginCollect takes the exclusive store lock (no pull or load runs
// meanwhile) and reads what is in use: containers' images and the index.
func (s *Store) beginCollect(o RemoveOptions) (unlock func(), inUse map[digest.Digest][]string, idx *ocispec.Index, err error) {
	if unlock, err = s.lockExclusive(); err != nil {
		return nil, nil, nil, err
	}
	if o.InUse != nil {
		if inUse, err = o.InUse(); err != nil {
			err = fmt.Errorf("list containers using images: %w", err)
		}
	}
	if err == nil {
		idx, err = s.readIndex()
	}
	if err != nil {
		unlock()
		return nil, nil, nil, err
	}
	return unlock, inUse, idx, nil
}

func namesOf(idx *ocispec.Index, d digest.Digest) []string {
	var names []string
	for _, m := range idx.Manifests {
		if m.Digest == d {
			names = append(names, m.Annotations[ocispec.AnnotationRefName])
		}
	}
	sort.Strings(names)
	return names
}

// collect is a mark-and-sweep: mark the blobs and layers reachable from
// the index's names and from containers' manifests, then delete the rest.
// It runs under the exclusive store lock, so no pull has blobs in flight.
func (s *Store) collect(idx *ocispec.Index, inUse map[digest.Digest][]string, res *Removed) error {
	keepBlobs := map[digest.Digest]bool{}
	keepLayers := map[digest.Digest]bool{}
	roots := map[digest.Digest]bool{}
	for _, d := range idx.Manifests {
		roots[d.Digest] = true
		if src := d.Annotations[annotSource]; src != "" {
			keepBlobs[digest.Digest(src)] = true
		}
	}
	for d := range inUse {
		roots[d] = true
	}
	for d := range roots {
		keepBlobs[d] = true
		raw, err := s.readBlob(d)
		if err != nil {
			continue // already gone: nothing below it to keep
		}
		var m ocispec.Manifest
		if json.Unmarshal(raw, &m) != nil {
			continue
		}
		keepBlobs[m.Config.Digest] = true
		for _, l := range m.Layers {
			keepBlobs[l.Digest] = true
		}
		if raw, err := s.readBlob(m.Config.Digest); err == nil {
			var c ocispec.Image
			if json.Unmarshal(raw, &c) == nil {
				for _, id := range c.RootFS.DiffIDs {
					keepLayers[id] = true
				}
			}
		}
	}
	blobDir := filepath.Join(s.root, "blobs", "sha256")
	ents, err := os.ReadDir(blobDir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if keepBlobs[d] {
			continue
		}
		if info, err := e.Info(); err == nil {
			res.Bytes += info.Size()
		}
		if err := os.Remove(filepath.Join(blobDir, e.Name())); err != nil {
			return err
		}
		res.Deleted = append(res.Deleted, d)
	}
	layerDir := filepath.Join(s.root, "layers", "sha256")
	ents, err = os.ReadDir(layerDir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if keepLayers[digest.NewDigestFromEncoded(digest.SHA256, e.Name())] {
			continue
		}
		p := filepath.Join(layerDir, e.Name())
		res.Bytes += du(p)
		if err := os.RemoveAll(p); err != nil {
			return err
		}
		res.Layers++
	}
	return nil
}

func du(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
