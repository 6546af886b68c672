package testregistry

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// pull fetches ref's manifest, config and every layer blob once, the way
// an image store does, and returns the first error.
func pull(t *testing.T, s string, opts []remote.Option) error {
	t.Helper()
	img, err := remote.Image(ref(t, s), opts...)
	if err != nil {
		return err
	}
	if _, err := img.RawConfigFile(); err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		rc, err := l.Compressed() // verifies the digest at EOF
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// largest is the biggest layer of im.
func largest(im *Image) Layer {
	var l Layer
	for _, x := range im.Layers {
		if x.Size > l.Size {
			l = x
		}
	}
	return l
}

func TestProxyCounts(t *testing.T) {
	r := Start(t, Options{})
	im := Busybox(t, BuildOptions{})
	r.Push(t, "busybox", im.Image)
	p := r.Proxy(t, Fault{})

	if err := pull(t, p.Ref("busybox"), r.RemoteOptions()); err != nil {
		t.Fatal(err)
	}
	for _, l := range im.Layers {
		if n := p.Count(http.MethodGet, "/blobs/"+l.Digest.String()); n != 1 {
			t.Errorf("layer %s fetched %d times, want once", l.Digest, n)
		}
	}
	var blobGets int
	for _, req := range p.Requests() {
		if req.Status == 0 {
			t.Errorf("%s %s: no status recorded", req.Method, req.Path)
		}
		if req.Method == http.MethodGet && strings.Contains(req.Path, "/blobs/") {
			blobGets++
		}
	}
	if want := len(im.Layers) + 1; blobGets != want { // the layers and the config
		t.Errorf("%d blob GETs, want %d: %+v", blobGets, want, p.Requests())
	}

	// Asking whether the manifest changed is a HEAD and nothing else.
	p.Reset()
	desc, err := remote.Head(ref(t, p.Ref("busybox")), r.RemoteOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != im.ManifestDigest(t) {
		t.Errorf("HEAD says %s, pushed %s", desc.Digest, im.ManifestDigest(t))
	}
	for _, req := range p.Requests() {
		if req.Method != http.MethodHead && req.Path != "/v2/" {
			t.Errorf("unexpected %s %s", req.Method, req.Path)
		}
	}
	if n := p.Count(http.MethodHead, "/manifests/latest"); n != 1 {
		t.Errorf("%d HEADs of the manifest, want 1: %+v", n, p.Requests())
	}
}

func TestProxyFlipByte(t *testing.T) {
	r := Start(t, Options{})
	for _, tc := range []struct {
		name  string
		opts  BuildOptions
		fault func(im *Image) Fault
	}{
		{"digest", BuildOptions{}, func(im *Image) Fault {
			return Fault{Kind: FlipByte, Digest: largest(im).Digest.String(), Offset: 100}
		}},
		{"min-size", BuildOptions{}, func(im *Image) Fault {
			return Fault{Kind: FlipByte, MinSize: 1 << 20}
		}},
		{"last-byte-uncompressed", BuildOptions{Compression: Uncompressed}, func(im *Image) Fault {
			return Fault{Kind: FlipByte, MinSize: 1 << 20, Offset: -1}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			im := Busybox(t, tc.opts)
			r.Push(t, "flip:"+tc.name, im.Image)
			p := r.Proxy(t, tc.fault(im))
			err := pull(t, p.Ref("flip:"+tc.name), r.RemoteOptions())
			if err == nil || !strings.Contains(err.Error(), "checksum") {
				t.Fatalf("pull through a proxy that flips a byte: %v; want a digest mismatch", err)
			}
			t.Logf("pull failed as it should: %v", err)
			digest, n := p.Faulted()
			if digest != largest(im).Digest.String() || n != 1 {
				t.Errorf("fault hit %q %d times, want %s once", digest, n, largest(im).Digest)
			}
		})
	}
}

func TestProxyTruncate(t *testing.T) {
	r := Start(t, Options{})
	im := Busybox(t, BuildOptions{})
	r.Push(t, "busybox", im.Image)
	big := largest(im)
	p := r.Proxy(t, Fault{Kind: Truncate, Digest: big.Digest.String(), Offset: 1000})

	// A client sees the whole length announced, 1000 bytes, then the end
	// of the connection.
	resp, err := get("http://" + p.Host + "/v2/busybox/blobs/" + big.Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ContentLength != big.Size || len(body) != 1000 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Content-Length %d, read %d bytes, error %v; want %d, 1000, unexpected EOF",
			resp.ContentLength, len(body), err, big.Size)
	}

	if err := pull(t, p.Ref("busybox"), r.RemoteOptions()); err == nil {
		t.Error("pull through a proxy that cuts the connection succeeded")
	} else {
		t.Logf("pull failed as it should: %v", err)
	}
	if _, n := p.Faulted(); n < 2 {
		t.Errorf("fault struck %d times, want at least 2", n)
	}
}

func TestProxyFailStatus(t *testing.T) {
	r := Start(t, Options{})
	im := Busybox(t, BuildOptions{})
	r.Push(t, "busybox", im.Image)
	big := largest(im)
	p := r.Proxy(t, Fault{Kind: FailStatus, Status: http.StatusServiceUnavailable, Digest: big.Digest.String(), Times: 1})

	url := "http://" + p.Host + "/v2/busybox/blobs/" + big.Digest.String()
	for _, want := range []int{http.StatusServiceUnavailable, http.StatusOK} {
		resp, err := get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET blob: %s, want %d", resp.Status, want)
		}
	}
	if got := p.Requests(); len(got) != 2 || got[0].Status != 503 || got[1].Status != 200 {
		t.Errorf("requests %+v", got)
	}
}

// TestProxyToken runs the bearer flow through the proxy: the challenge's
// realm is rewritten, so the token request passes it too.
func TestProxyToken(t *testing.T) {
	r := Start(t, Options{Auth: AuthToken})
	im := Busybox(t, BuildOptions{})
	r.Push(t, "busybox", im.Image)
	before := len(r.TokenRequests())
	p := r.Proxy(t, Fault{})

	if err := pull(t, p.Ref("busybox"), r.RemoteOptions()); err != nil {
		t.Fatal(err)
	}
	if p.Count(http.MethodGet, TokenPath) == 0 || len(r.TokenRequests()) == before {
		t.Errorf("no token request through the proxy: %+v", p.Requests())
	}
	if err := pull(t, p.Ref("busybox"), anonymous()); err == nil {
		t.Error("anonymous pull through the proxy succeeded")
	}
}
