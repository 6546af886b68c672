package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// What minirun accepts from a registry or an archive. Everything an image
// declares is checked against these before anything it names is fetched,
// and every byte count is enforced while the bytes arrive, so a hostile
// image costs at most these bounds in memory and one layer's declared size
// on disk, and then fails.
const (
	// maxManifestSize bounds an index or manifest. The OCI distribution
	// spec has registries accept manifests of at least 4 MiB, so no
	// registry holds a larger one that every client can read.
	maxManifestSize = 4 << 20
	// maxConfigSize bounds an image config, which is read into memory
	// whole. Real configs are kilobytes; their history and environment
	// are the parts that grow.
	maxConfigSize = 8 << 20
	// maxLayers is the most layers an image may have: overlayfs stacks
	// at most 500 lower directories (OVL_MAX_STACK in the kernel's
	// fs/overlayfs/params.h), so an image with more could never run.
	maxLayers = 500
)

// stallTimeout is how long a blob download may wait for its next byte
// before it fails. HTTP has no deadline for a body, so a server that
// stops sending in the middle of a blob would otherwise hold the pull
// (and the store's locks) forever. A variable so that tests can shorten
// it.
var stallTimeout = time.Minute

// errTooLarge is wrapped by every refusal of a size above a bound.
var errTooLarge = errors.New("too large")

// checkDigest accepts sha256 digests only. The OCI image spec also
// registers sha512, but the store's layout (blobs/sha256, layers/sha256)
// and everything that reads it, image IDs included, are sha256's; a blob
// under any other algorithm is refused before it is fetched rather than
// half-stored. Validate is not enough: it accepts every algorithm Go
// links, and a digest without ':' would make Algorithm panic.
func checkDigest(d digest.Digest) error {
	alg, _, ok := strings.Cut(string(d), ":")
	if !ok {
		return fmt.Errorf("digest %s: want ALGORITHM:HEX: %w", quoteShort(string(d)), digest.ErrDigestInvalidFormat)
	}
	if alg != string(digest.SHA256) {
		return fmt.Errorf("digest %s: algorithm %s is %w (minirun stores sha256 content only)", quoteShort(string(d)), quoteShort(alg), ErrUnsupported)
	}
	if err := d.Validate(); err != nil {
		return fmt.Errorf("digest %s: %w", quoteShort(string(d)), err)
	}
	return nil
}

// checkDescriptor checks a blob's descriptor before the blob is fetched:
// a digest minirun can verify and store, and a size that is not negative
// and, when max >= 0, not above max.
func checkDescriptor(d ocispec.Descriptor, max int64) error {
	if err := checkDigest(d.Digest); err != nil {
		return err
	}
	if d.Size < 0 {
		return fmt.Errorf("blob %s: negative size %d", d.Digest, d.Size)
	}
	if max >= 0 && d.Size > max {
		return fmt.Errorf("blob %s: %d bytes is %w: minirun reads at most %s", d.Digest, d.Size, errTooLarge, mib(max))
	}
	return nil
}

// checkManifest checks what a manifest declares: a layer count overlayfs
// can stack, a config small enough to read, sha256 digests throughout.
func checkManifest(m *ocispec.Manifest) error {
	if n := len(m.Layers); n > maxLayers {
		return fmt.Errorf("manifest lists %d layers, more than the %d overlayfs can stack", n, maxLayers)
	}
	if err := checkDescriptor(m.Config, maxConfigSize); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	for i, l := range m.Layers {
		if err := checkDescriptor(l, -1); err != nil {
			return fmt.Errorf("layer %d: %w", i+1, err)
		}
	}
	return nil
}

// decodeManifest parses an image manifest and checks it.
func decodeManifest(raw []byte) (*ocispec.Manifest, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if err := checkManifest(&m); err != nil {
		return nil, err
	}
	return &m, nil
}

func mib(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// quoteShort quotes s for an error message, cut to a length that fits on
// a line: digests and media types come from the image, and may be
// anything up to the manifest's size.
func quoteShort(s string) string {
	return quoteCut(s, 160) // a sha512 digest, whole
}

// quoteCut quotes s, cut to max bytes.
func quoteCut(s string, max int) string {
	if len(s) > max {
		return fmt.Sprintf("%q...", s[:max])
	}
	return fmt.Sprintf("%q", s)
}

// atMost counts what it reads from r and fails as soon as more than max
// bytes have come: a blob is read only up to the size its descriptor
// gives (plus the one byte that proves it is longer), so a server that
// streams without end is stopped there instead of filling memory or disk.
type atMost struct {
	r   io.Reader
	n   int64
	max int64
}

// errLonger is atMost's error; callers report it with the blob's name.
var errLonger = errors.New("more bytes than the descriptor's size")

func (a *atMost) Read(p []byte) (int, error) {
	if a.n > a.max {
		return 0, errLonger
	}
	if left := a.max + 1 - a.n; int64(len(p)) > left {
		p = p[:left]
	}
	n, err := a.r.Read(p)
	a.n += int64(n)
	if a.n > a.max {
		return n, errLonger
	}
	return n, err
}

// stallReader fails a read that waits more than timeout for data, by
// cancelling the context the HTTP request runs under. The clock runs only
// inside Read: a consumer that is slow (an unpacker writing a large file)
// does not count against the server.
type stallReader struct {
	rc      io.ReadCloser
	ctx     context.Context
	cancel  context.CancelCauseFunc
	timer   *time.Timer
	timeout time.Duration
	once    sync.Once
}

func newStallReader(ctx context.Context, cancel context.CancelCauseFunc, rc io.ReadCloser, timeout time.Duration) *stallReader {
	s := &stallReader{rc: rc, ctx: ctx, cancel: cancel, timeout: timeout}
	s.timer = time.AfterFunc(timeout, func() {
		cancel(fmt.Errorf("no data for %s: %w", timeout, errStalled))
	})
	s.timer.Stop()
	return s
}

var errStalled = errors.New("the server stopped sending")

func (s *stallReader) Read(p []byte) (int, error) {
	s.timer.Reset(s.timeout)
	n, err := s.rc.Read(p)
	s.timer.Stop()
	if err != nil && err != io.EOF {
		if cause := context.Cause(s.ctx); errors.Is(cause, errStalled) {
			return n, cause
		}
	}
	return n, err
}

func (s *stallReader) Close() error {
	s.timer.Stop()
	err := s.rc.Close()
	s.once.Do(func() { s.cancel(nil) })
	return err
}

// limitManifests caps the manifests and indexes a registry sends at
// maxManifestSize. go-containerregistry reads a manifest whole into
// memory, up to 100 MiB; here a larger Content-Length is refused before
// the body is read, and a body longer than announced (or unannounced) is
// cut at the cap, so a hostile registry costs at most the cap.
type limitManifests struct{ next http.RoundTripper }

func (l limitManifests) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(req)
	if err != nil || req.Method != http.MethodGet || !strings.Contains(req.URL.Path, "/manifests/") {
		return resp, err
	}
	if resp.ContentLength > maxManifestSize {
		resp.Body.Close()
		return nil, fmt.Errorf("manifest of %d bytes is %w: minirun reads at most %s", resp.ContentLength, errTooLarge, mib(maxManifestSize))
	}
	resp.Body = &capBody{rc: resp.Body, r: &atMost{r: resp.Body, max: maxManifestSize}}
	return resp, nil
}

// capBody is a response body read through atMost.
type capBody struct {
	rc io.ReadCloser
	r  *atMost
}

func (c *capBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if errors.Is(err, errLonger) {
		err = fmt.Errorf("manifest is %w: minirun reads at most %s", errTooLarge, mib(maxManifestSize))
	}
	return n, err
}

func (c *capBody) Close() error { return c.rc.Close() }
