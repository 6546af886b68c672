package image

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestParseReference(t *testing.T) {
	const dg = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		in, full, familiar, domain, tag string
		digest                          string
	}{
		{in: "alpine", full: "docker.io/library/alpine:latest", familiar: "alpine:latest", domain: "docker.io", tag: "latest"},
		{in: "alpine:3.20", full: "docker.io/library/alpine:3.20", familiar: "alpine:3.20", domain: "docker.io", tag: "3.20"},
		{in: "library/alpine", full: "docker.io/library/alpine:latest", familiar: "alpine:latest", domain: "docker.io", tag: "latest"},
		{in: "docker.io/alpine", full: "docker.io/library/alpine:latest", familiar: "alpine:latest", domain: "docker.io", tag: "latest"},
		{in: "user/app:v1", full: "docker.io/user/app:v1", familiar: "user/app:v1", domain: "docker.io", tag: "v1"},
		{in: "ghcr.io/o/r:tag", full: "ghcr.io/o/r:tag", familiar: "ghcr.io/o/r:tag", domain: "ghcr.io", tag: "tag"},
		{in: "localhost:5000/r", full: "localhost:5000/r:latest", familiar: "localhost:5000/r:latest", domain: "localhost:5000", tag: "latest"},
		{in: "host:5000/r@" + dg, full: "host:5000/r@" + dg, familiar: "host:5000/r@" + dg, domain: "host:5000", digest: dg},
		{in: "127.0.0.1:5000/a/b/c:x", full: "127.0.0.1:5000/a/b/c:x", familiar: "127.0.0.1:5000/a/b/c:x", domain: "127.0.0.1:5000", tag: "x"},
		// Short, it would name the registry a.b: the familiar form is the full one.
		{in: "docker.io/a.b/c", full: "docker.io/a.b/c:latest", familiar: "docker.io/a.b/c:latest", domain: "docker.io", tag: "latest"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			r, err := ParseReference(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if r.String() != tc.full || r.Familiar() != tc.familiar || r.Domain() != tc.domain || r.Tag() != tc.tag || string(r.Digest()) != tc.digest {
				t.Errorf("got full=%q familiar=%q domain=%q tag=%q digest=%q", r.String(), r.Familiar(), r.Domain(), r.Tag(), r.Digest())
			}
		})
	}
}

func TestParseReferenceErrors(t *testing.T) {
	for _, in := range []string{
		"", "Alpine", "alpine:", "a b", "host:5000/r@sha256:abc", "-x", "a//b",
		"foo_bar.com/x", "r@sha512:" + strings.Repeat("ab", 64),
	} {
		if _, err := ParseReference(in); !errors.Is(err, ErrBadReference) {
			t.Errorf("ParseReference(%q) = %v, want ErrBadReference", in, err)
		} else if !strings.Contains(err.Error(), "invalid image reference") {
			t.Errorf("error %q does not say what is wrong", err)
		}
	}
}

func TestLooksLikeID(t *testing.T) {
	for in, want := range map[string]bool{
		"abcd": true, "0123456789ab": true, "sha256:abcdef": true, "abc": false,
		"alpine": false, "ABCD": false, strings.Repeat("a", 65): false,
	} {
		if got := looksLikeID(in); got != want {
			t.Errorf("looksLikeID(%q) = %v", in, got)
		}
	}
}

func TestParsePlatform(t *testing.T) {
	for in, want := range map[string]string{
		"linux/amd64":    "linux/amd64",
		"linux/arm64":    "linux/arm64/v8",
		"linux/arm/v7":   "linux/arm/v7",
		"linux/arm64/v8": "linux/arm64/v8",
	} {
		p, err := ParsePlatform(in)
		if err != nil || platformString(p) != want {
			t.Errorf("ParsePlatform(%q) = %v, %v; want %s", in, platformString(p), err, want)
		}
	}
	for _, bad := range []string{"linux", "linux/", "/amd64", "a/b/c/d", ""} {
		if _, err := ParsePlatform(bad); err == nil {
			t.Errorf("ParsePlatform(%q) succeeded", bad)
		}
	}
}

func TestMatchPlatform(t *testing.T) {
	d := func(os, arch, variant, dg string) ocispec.Descriptor {
		return ocispec.Descriptor{Digest: digest.Digest("sha256:" + strings.Repeat(dg, 64)), Platform: &ocispec.Platform{OS: os, Architecture: arch, Variant: variant}}
	}
	index := []ocispec.Descriptor{
		d("linux", "amd64", "", "a"),
		d("linux", "arm64", "", "b"), // "" is v8
		d("linux", "arm", "v6", "c"),
		d("linux", "arm", "v7", "e"),
		d("unknown", "unknown", "", "f"),
	}
	for want, dg := range map[string]string{
		"linux/amd64": "a", "linux/arm64/v8": "b", "linux/arm/v7": "e", "linux/arm/v6": "c",
	} {
		p, _ := ParsePlatform(want)
		m, err := matchPlatform(p, index)
		if err != nil || m.Digest.Encoded()[:1] != dg {
			t.Errorf("%s: got %v, %v; want the %q manifest", want, m.Digest, err, dg)
		}
	}
	p, _ := ParsePlatform("linux/s390x")
	_, err := matchPlatform(p, index)
	if err == nil || !strings.Contains(err.Error(), "linux/amd64, linux/arm64/v8, linux/arm/v6, linux/arm/v7") || strings.Contains(err.Error(), "unknown") {
		t.Errorf("error should list what the index offers (without attestations): %v", err)
	}
}

func TestCheckManifestType(t *testing.T) {
	for mt, want := range map[string]string{
		ocispec.MediaTypeImageManifest:             "",
		dockerManifest:                             "",
		dockerSchema1:                              "schema 1 manifests are unsupported",
		dockerSchema1Signed:                        "schema 1 manifests are unsupported",
		"application/vnd.cncf.helm.config.v1+json": "is unsupported",
		ocispec.MediaTypeImageIndex:                "is unsupported",
	} {
		err := checkManifestType(mt)
		if (want == "") != (err == nil) || err != nil && (!strings.Contains(err.Error(), want) || !errors.Is(err, ErrUnsupported)) {
			t.Errorf("%s: %v, want %q", mt, err, want)
		}
	}
}

func TestToOCI(t *testing.T) {
	docker := `{"schemaVersion":2,"mediaType":"` + dockerManifest + `","config":{"mediaType":"` + dockerConfig + `","size":2,"digest":"sha256:` + strings.Repeat("a", 64) + `"},` +
		`"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":3,"digest":"sha256:` + strings.Repeat("b", 64) + `"},` +
		`{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","size":4,"digest":"sha256:` + strings.Repeat("c", 64) + `","urls":["https://example.com/x"]}]}`
	out, mt, err := toOCI([]byte(docker), dockerManifest)
	if err != nil || mt != ocispec.MediaTypeImageManifest {
		t.Fatal(mt, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	if m.MediaType != ocispec.MediaTypeImageManifest || m.Config.MediaType != ocispec.MediaTypeImageConfig ||
		m.Layers[0].MediaType != ocispec.MediaTypeImageLayerGzip || m.Layers[1].MediaType != ocispec.MediaTypeImageLayerNonDistributableGzip || //nolint:staticcheck
		m.Layers[1].URLs[0] != "https://example.com/x" || m.Layers[0].Digest.Encoded() != strings.Repeat("b", 64) || m.Config.Size != 2 {
		t.Errorf("converted: %s", out)
	}
	oci := []byte(`{"schemaVersion":2}`)
	if got, _, _ := toOCI(oci, ocispec.MediaTypeImageManifest); string(got) != string(oci) {
		t.Error("an OCI manifest must stay byte for byte")
	}
}
