package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/minirun/minirun/image/archive"
)

// Layer media types minirun unpacks. Which compression a blob really has
// is read from its first bytes (archive.Decompress), not trusted from here.
var layerTypes = map[string]bool{
	ocispec.MediaTypeImageLayer:                                  true,
	ocispec.MediaTypeImageLayerGzip:                              true,
	ocispec.MediaTypeImageLayerZstd:                              true,
	ocispec.MediaTypeImageLayerNonDistributable:                  true, //nolint:staticcheck // still in the wild
	ocispec.MediaTypeImageLayerNonDistributableGzip:              true, //nolint:staticcheck
	ocispec.MediaTypeImageLayerNonDistributableZstd:              true, //nolint:staticcheck
	"application/vnd.docker.image.rootfs.diff.tar.gzip":          true,
	"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip":  true,
	"application/vnd.docker.image.rootfs.diff.tar":               true,
	"application/vnd.docker.image.rootfs.foreign.diff.tar":       true,
	"application/vnd.docker.image.rootfs.diff.tar.zstd":          true,
	"application/vnd.docker.image.rootfs.foreign.diff.tar.zstd":  true,
	"application/vnd.oci.image.layer.v1.tar+gzip+encrypted":      false,
	"application/vnd.oci.image.layer.nondistributable.v1.tar+gz": false,
}

// layerSource is one layer to bring into the store: its descriptor as the
// manifest gives it, its diff ID from the config, and where its bytes come
// from.
type layerSource struct {
	desc   ocispec.Descriptor
	diffID digest.Digest
	open   func(ctx context.Context) (io.ReadCloser, error)
}

// ingestLayers brings every layer in, at most jobs at a time. Layers are
// independent (whiteouts are kept in overlayfs form, never applied to a
// lower layer), so they download and unpack in parallel. The first error
// cancels the rest.
//
// Nothing is moved into blobs/ or layers/ until every layer has arrived
// and checked out: a pull that fails on its fifth layer leaves the store
// as it was, not with four new layers. To let a concurrent pull of the
// same layers wait rather than download them again, every layer's lock is
// taken first, in digest order (so two pulls never wait for each other in
// a cycle), and held until the caller has named the image: the caller
// calls the returned release.
func (s *Store) ingestLayers(ctx context.Context, tmp *tmpDir, layers []layerSource, jobs int, prog progress) (release func(), err error) {
	ids := make([]digest.Digest, 0, len(layers))
	for _, l := range layers {
		if err := l.diffID.Validate(); err != nil {
			return nil, fmt.Errorf("layer %s: diff ID %q: %w", l.desc.Digest, l.diffID, err)
		}
		ids = append(ids, l.diffID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var unlocks []func()
	release = func() {
		for _, u := range slices.Backward(unlocks) {
			u()
		}
	}
	for _, id := range ids {
		u, err := s.lockBlob(id)
		if err != nil {
			release()
			return nil, err
		}
		unlocks = append(unlocks, u)
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, max(jobs, 1))
	var wg sync.WaitGroup
	errs := make([]error, len(layers))
	moves := make([][]move, len(layers))
	seen := map[digest.Digest]bool{}
	for i, l := range layers {
		if seen[l.diffID] {
			continue // the same layer twice in one image: one is enough
		}
		seen[l.diffID] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = context.Cause(ctx)
				return
			}
			defer func() { <-sem }()
			m, err := s.ingestLayer(ctx, tmp, l, prog)
			if err != nil {
				errs[i] = err
				cancel(err)
			}
			moves[i] = m
		}()
	}
	wg.Wait()
	err = context.Cause(ctx)
	if err == nil || errors.Is(err, context.Canceled) {
		// Report the layer that failed first, not the ones it cancelled.
		err = errors.Join(errs...)
	}
	if err == nil {
		err = s.moveIn(slices.Concat(moves...))
	}
	if err != nil {
		release()
		return nil, err
	}
	return release, nil
}

// move is one rename(2) from tmp/ into the store.
type move struct{ from, to string }

// moveIn renames everything into place. A layer directory's "complete"
// marker was written inside it before, so a layer directory that exists
// under layers/ is whole.
func (s *Store) moveIn(moves []move) error {
	for _, m := range moves {
		if _, err := os.Lstat(m.to); err == nil {
			continue // a layer two images of this pull share
		}
		if err := os.Rename(m.from, m.to); err != nil {
			return fmt.Errorf("image store: %w", err)
		}
	}
	return nil
}

// ingestLayer makes sure the layer's blob is in blobs/ and its unpacked
// tree in layers/. The bytes flow once, from the network (or a file)
// through two digest checks into the unpacker:
//
//	blob ──tee──► tmp/<x>.blob          (kept, for the OCI layout)
//	     ──tee──► sha256 ≟ desc.Digest  (the manifest's digest)
//	     ──► decompress ──tee──► sha256 ≟ diffID (the config's digest)
//	                     ──► archive.Apply(tmp/<y>/fs)
//
// Nothing is renamed into place before both digests match.
func (s *Store) ingestLayer(ctx context.Context, tmp *tmpDir, l layerSource, prog progress) (_ []move, err error) {
	if ok, known := layerTypes[l.desc.MediaType]; !ok {
		if known {
			return nil, fmt.Errorf("layer %s: media type %s: %w", l.desc.Digest, l.desc.MediaType, ErrUnsupported)
		}
		return nil, fmt.Errorf("layer %s: unknown media type %s: %w", l.desc.Digest, quoteShort(l.desc.MediaType), ErrUnsupported)
	}
	if err := checkDescriptor(l.desc, -1); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	haveBlob, haveLayer := s.hasBlob(l.desc.Digest), s.layerComplete(l.diffID)
	bar := prog.layer(l.desc.Digest, l.desc.Size)
	if haveBlob && haveLayer {
		bar.done(true, nil)
		return nil, nil
	}
	defer func() { bar.done(false, err) }()

	var src io.ReadCloser
	if haveBlob {
		src, err = os.Open(s.blobPath(l.desc.Digest))
	} else {
		src, err = l.open(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", l.desc.Digest, err)
	}
	defer src.Close()

	blobTmp := filepath.Join(tmp.path, l.desc.Digest.Encoded()+".blob")
	layerTmp := filepath.Join(tmp.path, l.diffID.Encoded())
	sinks := []io.Writer{}
	var blobFile *os.File
	if !haveBlob {
		if blobFile, err = os.OpenFile(blobTmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); err != nil {
			return nil, err
		}
		defer blobFile.Close()
		sinks = append(sinks, blobFile)
	}
	blobV := l.desc.Digest.Verifier()
	sinks = append(sinks, blobV)
	// Never more than the manifest's size plus one byte: a blob that
	// does not end is stopped there.
	counted := &atMost{r: bar.reader(src), max: l.desc.Size}
	compressed := io.TeeReader(counted, io.MultiWriter(sinks...))

	var stats archive.Stats
	unpackErr := func() error {
		tarStream, _, err := archive.Decompress(compressed)
		if err != nil {
			return err
		}
		defer tarStream.Close()
		diffV := l.diffID.Verifier()
		plain := io.TeeReader(tarStream, diffV)
		if !haveLayer {
			if err := os.MkdirAll(filepath.Join(layerTmp, "fs"), 0o755); err != nil {
				return err
			}
			if stats, err = archive.Apply(filepath.Join(layerTmp, "fs"), plain, archive.Options{}); err != nil {
				return err
			}
		}
		// The diff ID covers the whole tar stream, including the padding
		// after its end-of-archive marker that tar readers do not read.
		if _, err := io.Copy(io.Discard, plain); err != nil {
			return err
		}
		if !diffV.Verified() {
			return fmt.Errorf("uncompressed content does not match diff ID %s: %w", l.diffID, ErrDigest)
		}
		return nil
	}()
	// Read what the decompressor left (a gzip trailer, a second member)
	// so that the digest covers the whole blob, and so that a corrupt blob
	// is reported as what it is, whatever the unpacker made of it.
	_, drainErr := io.Copy(io.Discard, compressed)
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("layer %s: %w", l.desc.Digest, context.Cause(ctx))
	case counted.n > l.desc.Size:
		return nil, fmt.Errorf("layer %s: the registry sent more than the %d bytes the manifest says", l.desc.Digest, l.desc.Size)
	case counted.n == l.desc.Size && !blobV.Verified():
		return nil, fmt.Errorf("layer %s: %w: the %d bytes received have another digest", l.desc.Digest, ErrDigest, counted.n)
	case counted.n < l.desc.Size && drainErr != nil:
		return nil, fmt.Errorf("layer %s: transfer ended after %d of %d bytes: %w", l.desc.Digest, counted.n, l.desc.Size, drainErr)
	case counted.n != l.desc.Size && drainErr == nil:
		return nil, fmt.Errorf("layer %s: got %d bytes, the manifest says %d", l.desc.Digest, counted.n, l.desc.Size)
	case unpackErr != nil:
		return nil, fmt.Errorf("layer %s: %w", l.desc.Digest, unpackErr)
	case drainErr != nil:
		return nil, fmt.Errorf("layer %s: %w", l.desc.Digest, drainErr)
	}

	if s.Explain.Enabled() {
		s.explainLayer(l, !haveBlob, !haveLayer, stats)
	}
	var moves []move
	if blobFile != nil {
		if err := blobFile.Close(); err != nil {
			return nil, err
		}
		moves = append(moves, move{blobTmp, s.blobPath(l.desc.Digest)})
	}
	if !haveLayer {
		// The marker goes in before the directory moves into place.
		if err := os.WriteFile(filepath.Join(layerTmp, "complete"), []byte(l.diffID.String()+"\n"), 0o644); err != nil {
			return nil, err
		}
		moves = append(moves, move{layerTmp, s.layerDir(l.diffID)})
	}
	return moves, nil
}
