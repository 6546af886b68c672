package image

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/minirun/minirun/internal/explain"
)

// Manifest media types of Docker's registry API that are not OCI's.
const (
	dockerManifest       = "application/vnd.docker.distribution.manifest.v2+json"
	dockerManifestList   = "application/vnd.docker.distribution.manifest.list.v2+json"
	dockerSchema1        = "application/vnd.docker.distribution.manifest.v1+json"
	dockerSchema1Signed  = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	dockerConfig         = "application/vnd.docker.container.image.v1+json"
	defaultParallelPulls = 4
)

// PullOptions are pull's flags.
type PullOptions struct {
	// Platform is os/arch[/variant]; "" is this host's.
	Platform string
	// Insecure lists registries (host:port) reached over plain HTTP. As in
	// docker, loopback addresses are always allowed plain HTTP; any other
	// registry must speak TLS.
	Insecure []string
	// Username and Password (--creds) replace what ~/.docker/config.json
	// says for this registry.
	Username, Password string
	// Progress receives a bar per layer on a terminal, else a line per
	// finished layer; nil is quiet.
	Progress io.Writer
	// UserAgent is sent to the registry.
	UserAgent string
}

// PullResult says what Pull did.
type PullResult struct {
	Image *Image
	// UpToDate is true when the registry's digest matched the stored
	// image's and nothing was downloaded.
	UpToDate bool
}

// Pull brings ref into the store: it asks the registry for the manifest's
// digest with a HEAD request and stops there if the store already has it;
// else it fetches the manifest (picking this host's platform from an
// index), the config, and every layer not yet in the store, in parallel.
// A failed pull leaves the store as it was.
func (s *Store) Pull(ctx context.Context, refStr string, o PullOptions) (*PullResult, error) {
	ref, err := ParseReference(refStr)
	if err != nil {
		return nil, err
	}
	want := HostPlatform()
	if o.Platform != "" {
		if want, err = ParsePlatform(o.Platform); err != nil {
			return nil, err
		}
	}
	unlock, err := s.lockShared()
	if err != nil {
		return nil, err
	}
	defer unlock()
	s.cleanTmp()

	var nameOpts []name.Option
	if slices.Contains(o.Insecure, ref.Domain()) {
		nameOpts = append(nameOpts, name.Insecure)
	}
	gref, err := name.ParseReference(ref.String(), nameOpts...)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrBadReference, refStr, err)
	}
	auth := remote.WithAuthFromKeychain(authn.DefaultKeychain)
	if o.Username != "" || o.Password != "" {
		auth = remote.WithAuth(&authn.Basic{Username: o.Username, Password: o.Password})
	}
	puller, err := remote.NewPuller(auth, remote.WithTransport(limitManifests{&tlsOnly{insecure: o.Insecure, next: remote.DefaultTransport}}),
		remote.WithUserAgent(o.UserAgent), remote.WithJobs(defaultParallelPulls))
	if err != nil {
		return nil, err
	}

	// HEAD first: registries (Docker Hub among them) count manifest GETs
	// against a rate limit, not HEADs.
	stored, _ := s.Get(ref.String())
	if head, err := puller.Head(ctx, gref); err == nil {
		if stored != nil && stored.Source.String() == head.Digest.String() && s.complete(stored) &&
			platformOf(stored) == platformString(want) {
			return &PullResult{Image: stored, UpToDate: true}, nil
		}
	} else if isAuthError(err) {
		return nil, registryError(ref, err)
	}

	top, err := puller.Get(ctx, gref)
	if err != nil {
		return nil, registryError(ref, err)
	}
	source := digest.FromBytes(top.Manifest)
	if d := ref.Digest(); d != "" && d != source {
		return nil, fmt.Errorf("%s: %w: the registry sent a manifest with digest %s", ref, ErrDigest, source)
	}
	raw, mediaType := top.Manifest, string(top.MediaType)
	var indexRaw []byte
	if mediaType == ocispec.MediaTypeImageIndex || mediaType == dockerManifestList {
		indexRaw = raw
		var idx ocispec.Index
		if err := json.Unmarshal(raw, &idx); err != nil {
			return nil, fmt.Errorf("%s: index: %w", ref, err)
		}
		m, err := matchPlatform(want, idx.Manifests)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		if err := checkDescriptor(m, maxManifestSize); err != nil {
			return nil, fmt.Errorf("%s: manifest for %s: %w", ref, platformString(want), err)
		}
		d, err := puller.Get(ctx, gref.Context().Digest(m.Digest.String()))
		if err != nil {
			return nil, registryError(ref, err)
		}
		raw, mediaType = d.Manifest, string(d.MediaType)
		if got := digest.FromBytes(raw); got != m.Digest {
			return nil, fmt.Errorf("%s: manifest %s: %w (got %s)", ref, m.Digest, ErrDigest, got)
		}
	}
	if err := checkManifestType(mediaType); err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	man, err := decodeManifest(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	if s.Explain.Enabled() {
		s.Explain.Step(explain.Step{Phase: explain.PhasePull, Man: "OCI distribution-spec (pulling manifests)",
			Text:   fmt.Sprintf("GET /v2/%s/manifests/%s: %s, %d layers", gref.Context().RepositoryStr(), gref.Identifier(), mediaType, len(man.Layers)),
			Fields: map[string]any{"op": "manifest", "ref": ref.String(), "digest": digest.FromBytes(raw).String()}})
	}

	fetch := func(ctx context.Context, d digest.Digest) (io.ReadCloser, error) {
		ctx, cancel := context.WithCancelCause(ctx)
		l, err := puller.Layer(ctx, gref.Context().Digest(d.String()))
		if err != nil {
			cancel(nil)
			return nil, err
		}
		rc, err := l.Compressed()
		if err != nil {
			cancel(nil)
			return nil, err
		}
		return newStallReader(ctx, cancel, rc, stallTimeout), nil
	}
	cfgRaw, err := s.fetchSmall(ctx, man.Config, fetch)
	if err != nil {
		return nil, fmt.Errorf("%s: config: %w", ref, err)
	}
	cfg, err := checkConfig(*man, cfgRaw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	if indexRaw == nil && o.Platform != "" {
		got := normalizePlatform(ocispec.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant})
		if got.OS != want.OS || got.Architecture != want.Architecture {
			return nil, fmt.Errorf("%s: the image is for %s, not %s", ref, platformString(got), platformString(want))
		}
	}

	tmp, err := s.newTmp()
	if err != nil {
		return nil, err
	}
	defer tmp.remove()
	layers := make([]layerSource, len(man.Layers))
	for i, l := range man.Layers {
		layers[i] = layerSource{desc: l, diffID: cfg.RootFS.DiffIDs[i],
			open: func(ctx context.Context) (io.ReadCloser, error) { return fetch(ctx, l.Digest) }}
	}
	prog := newProgress(o.Progress)
	release, err := s.ingestLayers(ctx, tmp, layers, defaultParallelPulls, prog)
	prog.wait()
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref.Familiar(), err)
	}
	if raw, mediaType, err = toOCI(raw, mediaType); err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	im, err := s.commit(ref.String(), raw, mediaType, cfgRaw, man.Config.Digest, source, indexRaw, &want)
	release()
	if err != nil {
		return nil, err
	}
	return &PullResult{Image: im}, nil
}

// fetchSmall reads a config blob (from the store if it is there) and
// checks its digest and size. It reads no more than the descriptor's
// size, and that is at most maxConfigSize.
func (s *Store) fetchSmall(ctx context.Context, d ocispec.Descriptor, fetch func(context.Context, digest.Digest) (io.ReadCloser, error)) ([]byte, error) {
	if err := checkDescriptor(d, maxConfigSize); err != nil {
		return nil, err
	}
	if b, err := s.readBlob(d.Digest); err == nil {
		return b, nil
	}
	rc, err := fetch(ctx, d.Digest)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := copyVerified(&buf, &atMost{r: rc, max: d.Size}, d.Digest, d.Size); err != nil {
		if errors.Is(err, errLonger) {
			return nil, fmt.Errorf("blob %s: the registry sent more than the %d bytes of its descriptor", d.Digest, d.Size)
		}
		return nil, err
	}
	return buf.Bytes(), nil
}

// checkConfig parses an image config and checks that it matches its
// manifest: one diff ID per layer, and a config media type minirun knows.
func checkConfig(man ocispec.Manifest, raw []byte) (*ocispec.Image, error) {
	switch man.Config.MediaType {
	case ocispec.MediaTypeImageConfig, dockerConfig:
	default:
		return nil, fmt.Errorf("config media type %s is %w (not a container image?)", quoteShort(man.Config.MediaType), ErrUnsupported)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(cfg.RootFS.DiffIDs) != len(man.Layers) {
		return nil, fmt.Errorf("config names %d layers, the manifest %d", len(cfg.RootFS.DiffIDs), len(man.Layers))
	}
	for i, id := range cfg.RootFS.DiffIDs {
		if err := checkDigest(id); err != nil {
			return nil, fmt.Errorf("config: diff ID of layer %d: %w", i+1, err)
		}
	}
	return &cfg, nil
}

// commit writes the config and manifest blobs (and the index the manifest
// was picked from) and then names the image in index.json: the name is
// the last thing written, so it never points at anything missing.
func (s *Store) commit(name string, manRaw []byte, mediaType string, cfgRaw []byte, cfgDigest, source digest.Digest, indexRaw []byte, p *ocispec.Platform) (*Image, error) {
	if err := s.writeBlob(cfgDigest, cfgRaw); err != nil {
		return nil, err
	}
	manDigest := digest.FromBytes(manRaw)
	if err := s.writeBlob(manDigest, manRaw); err != nil {
		return nil, err
	}
	if indexRaw != nil {
		if err := s.writeBlob(digest.FromBytes(indexRaw), indexRaw); err != nil {
			return nil, err
		}
	}
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: manDigest, Size: int64(len(manRaw)), Platform: p}
	if err := s.setName(name, desc, source); err != nil {
		return nil, err
	}
	return s.Get(name)
}

func (s *Store) complete(im *Image) bool {
	_, err := s.LayerDirs(im)
	return err == nil
}

func platformOf(im *Image) string {
	return platformString(normalizePlatform(ocispec.Platform{OS: im.Config.OS, Architecture: im.Config.Architecture, Variant: im.Config.Variant}))
}

func isAuthError(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden)
}

// registryError turns the registry's answer into one line that says what
// went wrong with which image.
func registryError(ref Reference, err error) error {
	// A limit of minirun's own, refused in the transport: the request's
	// method and URL that net/http puts around it add nothing.
	if ue := (*url.Error)(nil); errors.As(err, &ue) && errors.Is(ue.Err, errTooLarge) {
		return fmt.Errorf("%s: %w", ref.Familiar(), ue.Err)
	}
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusNotFound:
			return fmt.Errorf("%w: %s: the registry has no such manifest", ErrNotFound, ref.Familiar())
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%s: access denied by %s (log in, or pass --creds): %v", ref.Familiar(), ref.Domain(), te)
		}
	}
	return fmt.Errorf("%s: %w", ref.Familiar(), err)
}

// tlsOnly refuses plain HTTP to any registry but loopback ones and those
// named by --insecure-registry. go-containerregistry by itself falls back
// to HTTP for private (RFC 1918) addresses too, where a man in the middle
// could then serve any image.
type tlsOnly struct {
	insecure []string
	next     http.RoundTripper
}

func (t *tlsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !t.allowed(req.URL.Host) {
		return nil, fmt.Errorf("refusing plain HTTP to %s: pass --insecure-registry %s to allow it", req.URL.Host, req.URL.Host)
	}
	return t.next.RoundTrip(req)
}

func (t *tlsOnly) allowed(hostport string) bool {
	if slices.Contains(t.insecure, hostport) {
		return true
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Docker's layer media types and their OCI names.
var dockerToOCILayer = map[string]string{
	"application/vnd.docker.image.rootfs.diff.tar.gzip":         ocispec.MediaTypeImageLayerGzip,
	"application/vnd.docker.image.rootfs.diff.tar":              ocispec.MediaTypeImageLayer,
	"application/vnd.docker.image.rootfs.diff.tar.zstd":         ocispec.MediaTypeImageLayerZstd,
	"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": ocispec.MediaTypeImageLayerNonDistributableGzip, //nolint:staticcheck
	"application/vnd.docker.image.rootfs.foreign.diff.tar":      ocispec.MediaTypeImageLayerNonDistributable,     //nolint:staticcheck
}

// toOCI rewrites a Docker schema 2 manifest as an OCI one: the same config
// and layer blobs, under OCI media types. The store keeps OCI manifests
// only, because readers of OCI layouts (skopeo among them) skip index
// entries of Docker's types. The manifest's digest changes with it; the
// registry's digest is kept as the image's Source.
func toOCI(raw []byte, mediaType string) ([]byte, string, error) {
	if mediaType != dockerManifest {
		return raw, mediaType, nil
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, "", fmt.Errorf("manifest: %w", err)
	}
	m.MediaType = ocispec.MediaTypeImageManifest
	if m.Config.MediaType == dockerConfig {
		m.Config.MediaType = ocispec.MediaTypeImageConfig
	}
	for i, l := range m.Layers {
		if t, ok := dockerToOCILayer[l.MediaType]; ok {
			m.Layers[i].MediaType = t
		}
	}
	out, err := json.Marshal(m)
	return out, ocispec.MediaTypeImageManifest, err
}

// checkManifestType accepts the image manifests minirun reads: OCI's and
// Docker's schema 2.
func checkManifestType(mediaType string) error {
	switch mediaType {
	case ocispec.MediaTypeImageManifest, dockerManifest:
		return nil
	case ocispec.MediaTypeImageIndex, dockerManifestList:
		// One level of index is followed, never more: a chain of indexes
		// could otherwise be made as long as a registry lets it be.
		return fmt.Errorf("an index inside an index is %w: minirun follows one level", ErrUnsupported)
	case dockerSchema1, dockerSchema1Signed:
		return fmt.Errorf("Docker schema 1 manifests are %w (the image predates 2017; push it again with a current tool)", ErrUnsupported)
	}
	return fmt.Errorf("manifest media type %q is %w (not a container image?)", mediaType, ErrUnsupported)
}
