package image

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxErrorLen bounds an error about hostile input: one line a user can
// read, however large the input.
const maxErrorLen = 1024

func checkErrorLine(t *testing.T, err error) {
	t.Helper()
	if msg := err.Error(); len(msg) > maxErrorLen || strings.Contains(msg, "\n") {
		t.Fatalf("error is not one short line (%d bytes): %.200q", len(msg), msg)
	}
}

// FuzzParseReference: a reference either fails with ErrBadReference or
// comes back in a normal form that parses to itself, from its full and
// its familiar spelling alike, with a tag or a sha256 digest.
func FuzzParseReference(f *testing.F) {
	const dg = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, s := range []string{
		"alpine", "alpine:3.20", "library/alpine", "docker.io/alpine", "user/app:v1",
		"ghcr.io/o/r:tag", "localhost:5000/r", "host:5000/r@" + dg, "r:t@" + dg,
		"127.0.0.1:5000/a/b/c:x", "[::1]:5000/r", "Alpine", "a//b", "alpine:",
		"r@sha512:" + strings.Repeat("ab", 64), "r@md5:5d41402abc4b2a76b9719d911017c592",
		"index.docker.io/library/alpine", "a.b-c__d/e:" + strings.Repeat("t", 128), "foo_bar.com/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReference(s)
		if err != nil {
			if !errors.Is(err, ErrBadReference) {
				t.Fatalf("ParseReference(%q): %v does not wrap ErrBadReference", s, err)
			}
			return
		}
		full := r.String()
		if r.Tag() == "" && r.Digest() == "" {
			t.Fatalf("ParseReference(%q) = %q: neither tag nor digest", s, full)
		}
		if d := r.Digest(); d != "" {
			if err := checkDigest(d); err != nil {
				t.Fatalf("ParseReference(%q) kept digest %q: %v", s, d, err)
			}
		}
		if r.Domain() == "" || !strings.HasPrefix(full, r.Domain()+"/") || !strings.HasPrefix(full, r.Repository()) {
			t.Fatalf("ParseReference(%q) = %q: domain %q, repository %q", s, full, r.Domain(), r.Repository())
		}
		for _, again := range []string{full, r.Familiar()} {
			r2, err := ParseReference(again)
			if err != nil {
				t.Fatalf("ParseReference(%q) = %q, which does not parse again: %v", s, again, err)
			}
			if r2.String() != full {
				t.Fatalf("ParseReference(%q) = %q, but %q parses to %q", s, full, again, r2.String())
			}
		}
	})
}

// FuzzDecodeManifest: whatever a registry sends as a manifest and a
// config, a manifest that passes the checks declares only what the store
// can hold (at most maxLayers layers, sha256 digests, sizes within
// bounds), survives the conversion to OCI media types unchanged in every
// digest and size, and a config that passes checkConfig gives each layer
// a sha256 diff ID. Refusals are one short line.
func FuzzDecodeManifest(f *testing.F) {
	layer := func(d digest.Digest, size int64) ocispec.Descriptor {
		return ocispec.Descriptor{MediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", Digest: d, Size: size}
	}
	cfgDesc := ocispec.Descriptor{MediaType: dockerConfig, Digest: digest.FromString("config"), Size: 120}
	man := func(cfg ocispec.Descriptor, layers ...ocispec.Descriptor) []byte {
		return mustJSON(ocispec.Manifest{Versioned: versioned(), MediaType: dockerManifest, Config: cfg, Layers: layers})
	}
	config := func(ids ...digest.Digest) []byte {
		return mustJSON(ocispec.Image{Platform: HostPlatform(), RootFS: ocispec.RootFS{Type: "layers", DiffIDs: ids}})
	}
	l1 := layer(digest.FromString("l1"), 1000)
	f.Add(man(cfgDesc, l1), config(digest.FromString("d1")))
	f.Add(man(cfgDesc, l1, l1), config(digest.FromString("d1"), digest.FromString("d1")))
	f.Add(man(cfgDesc), config())
	many := make([]ocispec.Descriptor, maxLayers+1)
	for i := range many {
		many[i] = l1
	}
	f.Add(man(cfgDesc, many...), config())
	f.Add(man(ocispec.Descriptor{MediaType: dockerConfig, Digest: cfgDesc.Digest, Size: 1 << 30}, l1), config(digest.FromString("d1")))
	f.Add(man(cfgDesc, layer(digest.SHA512.FromString("l1"), 10)), config(digest.SHA512.FromString("d1")))
	f.Add(man(cfgDesc, layer("md5:5d41402abc4b2a76b9719d911017c592", 10)), config("md5:5d41402abc4b2a76b9719d911017c592"))
	f.Add(man(cfgDesc, layer(digest.FromString("l1"), -1)), config(digest.FromString("d1")))
	f.Add(man(ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: "sha256", Size: 1}), config())
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"digest":"sha256:x"}]}`), []byte(`{"rootfs":{"diff_ids":[""]}}`))
	f.Add([]byte(`{"config":{"digest":"`+strings.Repeat("sha256:", 1000)+`"}}`), []byte(`null`))

	f.Fuzz(func(t *testing.T, raw, cfgRaw []byte) {
		m, err := decodeManifest(raw)
		if err != nil {
			checkErrorLine(t, err)
			return
		}
		checkDeclared(t, m)
		out, mediaType, err := toOCI(raw, dockerManifest)
		if err != nil {
			t.Fatalf("toOCI of a manifest that decoded: %v", err)
		}
		if mediaType != ocispec.MediaTypeImageManifest {
			t.Fatalf("toOCI gave media type %q", mediaType)
		}
		m2, err := decodeManifest(out)
		if err != nil {
			t.Fatalf("the OCI form of a valid manifest is refused: %v\n%s", err, out)
		}
		if m2.Config.Digest != m.Config.Digest || m2.Config.Size != m.Config.Size || len(m2.Layers) != len(m.Layers) {
			t.Fatalf("toOCI changed the manifest: %+v, was %+v", m2, m)
		}
		for i := range m.Layers {
			if m2.Layers[i].Digest != m.Layers[i].Digest || m2.Layers[i].Size != m.Layers[i].Size {
				t.Fatalf("toOCI changed layer %d: %+v, was %+v", i, m2.Layers[i], m.Layers[i])
			}
		}

		// checkConfig wants the config media type of a container image.
		m.Config.MediaType = ocispec.MediaTypeImageConfig
		cfg, err := checkConfig(*m, cfgRaw)
		if err != nil {
			checkErrorLine(t, err)
			return
		}
		if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
			t.Fatalf("config with %d diff IDs accepted for %d layers", len(cfg.RootFS.DiffIDs), len(m.Layers))
		}
		for _, id := range cfg.RootFS.DiffIDs {
			if err := checkDigest(id); err != nil {
				t.Fatalf("config accepted with diff ID %q: %v", id, err)
			}
		}
	})
}

// checkDeclared fails unless everything m declares is within what
// checkManifest promises.
func checkDeclared(t *testing.T, m *ocispec.Manifest) {
	t.Helper()
	if len(m.Layers) > maxLayers {
		t.Fatalf("manifest of %d layers accepted", len(m.Layers))
	}
	if m.Config.Size < 0 || m.Config.Size > maxConfigSize {
		t.Fatalf("config size %d accepted", m.Config.Size)
	}
	for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		if d.Digest.Algorithm() != digest.SHA256 || d.Digest.Validate() != nil || d.Size < 0 {
			t.Fatalf("descriptor accepted: %+v", d)
		}
	}
}

// FuzzMatchPlatform: from any index, matchPlatform picks a manifest of
// the platform asked for, or says in one line what the index offers.
func FuzzMatchPlatform(f *testing.F) {
	idx := func(ps ...ocispec.Platform) []byte {
		var ms []ocispec.Descriptor
		for i := range ps {
			ms = append(ms, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(ps[i].Architecture), Size: 500, Platform: &ps[i]})
		}
		return mustJSON(ocispec.Index{Versioned: versioned(), MediaType: ocispec.MediaTypeImageIndex, Manifests: ms})
	}
	f.Add(idx(ocispec.Platform{OS: "linux", Architecture: "amd64"}, ocispec.Platform{OS: "linux", Architecture: "arm64"}), "linux/arm64/v8")
	f.Add(idx(ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, ocispec.Platform{OS: "unknown", Architecture: "unknown"}), "linux/arm/v6")
	f.Add(idx(ocispec.Platform{OS: "windows", Architecture: "amd64"}), "linux/amd64")
	f.Add([]byte(`{"manifests":[{"digest":"sha256:00"},null,{"platform":{}}]}`), "linux/amd64")
	var long []ocispec.Platform
	for i := range 20 {
		long = append(long, ocispec.Platform{OS: strings.Repeat("\n", 100), Architecture: strings.Repeat("x", 200+i)})
	}
	f.Add(idx(long...), "linux/amd64")
	f.Fuzz(func(t *testing.T, raw []byte, platform string) {
		want, err := ParsePlatform(platform)
		if err != nil {
			return
		}
		var ix ocispec.Index
		if json.Unmarshal(raw, &ix) != nil {
			return
		}
		m, err := matchPlatform(want, ix.Manifests)
		if err != nil {
			checkErrorLine(t, err)
			return
		}
		if m.Platform == nil {
			t.Fatalf("picked a manifest without a platform: %+v", m)
		}
		got := normalizePlatform(*m.Platform)
		if got.OS != want.OS || got.Architecture != want.Architecture || (want.Variant != "" && got.Variant != want.Variant) {
			t.Fatalf("asked for %s, picked %s", platformString(want), platformString(got))
		}
	})
}
