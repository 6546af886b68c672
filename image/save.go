package image

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Save writes images as one tar that is both an OCI archive (oci-layout,
// index.json, blobs/) and a `docker save` archive (manifest.json naming
// the same blobs), so that minirun, podman, skopeo and docker can all
// load it. Blobs are written as stored, each once.
func (s *Store) Save(w io.Writer, refs []string) error {
	unlock, err := s.lockShared()
	if err != nil {
		return err
	}
	defer unlock()
	var ims []*Image
	for _, r := range refs {
		im, err := s.Get(r)
		if err != nil {
			return err
		}
		ims = append(ims, im)
	}
	tw := tar.NewWriter(w)
	now := time.Unix(0, 0)
	add := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: dir, Mode: 0o755, ModTime: now, Typeflag: tar.TypeDir}); err != nil {
			return err
		}
	}
	seen := map[digest.Digest]bool{}
	addBlob := func(d digest.Digest) error {
		if seen[d] {
			return nil
		}
		seen[d] = true
		f, err := os.Open(s.blobPath(d))
		if err != nil {
			return fmt.Errorf("blob %s: %w", d, err)
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: blobName(d), Mode: 0o644, Size: st.Size(), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = copyVerified(tw, f, d, st.Size())
		return err
	}
	idx := ocispec.Index{Versioned: versioned(), MediaType: ocispec.MediaTypeImageIndex}
	var docker []dockerManifestEntry
	for _, im := range ims {
		for _, d := range append([]digest.Digest{im.Digest, im.ID}, layerDigests(im)...) {
			if err := addBlob(d); err != nil {
				return err
			}
		}
		ref, _ := ParseReference(im.Name)
		idx.Manifests = append(idx.Manifests, ocispec.Descriptor{
			MediaType: im.mediaType(), Digest: im.Digest, Size: int64(len(im.RawManifest)),
			Annotations: map[string]string{
				ocispec.AnnotationRefName:  im.Name,
				"io.containerd.image.name": im.Name,
			},
		})
		e := dockerManifestEntry{Config: blobName(im.ID), RepoTags: []string{ref.Familiar()}}
		for _, d := range layerDigests(im) {
			e.Layers = append(e.Layers, blobName(d))
		}
		docker = append(docker, e)
	}
	if err := add(ocispec.ImageLayoutFile, []byte(`{"imageLayoutVersion":"`+ocispec.ImageLayoutVersion+`"}`)); err != nil {
		return err
	}
	if err := add("index.json", mustJSON(idx)); err != nil {
		return err
	}
	if err := add("manifest.json", mustJSON(docker)); err != nil {
		return err
	}
	return tw.Close()
}

func layerDigests(im *Image) []digest.Digest {
	var ds []digest.Digest
	for _, l := range im.Manifest.Layers {
		ds = append(ds, l.Digest)
	}
	return ds
}

func (im *Image) mediaType() string {
	if im.Manifest.MediaType != "" {
		return im.Manifest.MediaType
	}
	return ocispec.MediaTypeImageManifest
}

// SaveFile writes Save's archive to path through a temporary name, so a
// failed save leaves no half-written file.
func (s *Store) SaveFile(path string, refs []string) error {
	return writeAtomic(path, func(w io.Writer) error { return s.Save(w, refs) })
}
