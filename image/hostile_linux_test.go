package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	tr "github.com/minirun/minirun/internal/testregistry"
)

// maxHostileAlloc is what a hostile pull may allocate in all: far below
// the gigabyte the images below announce or stream.
const maxHostileAlloc = 64 << 20

// TestPullHostile: images made to exhaust the puller. Each pull must fail
// with an error that names the problem, allocate a bounded amount of
// memory whatever the image announces or streams, and leave the store as
// it was: no blob, no layer, no temporary file, no name.
//
// Rows a real registry stores are pushed to one (testregistry). The others
// need a registry that lies (a body that never ends, content that does not
// match its digest, a digest algorithm go-containerregistry cannot even
// upload): a server in this test answers the read side of the
// distribution API for those.
func TestPullHostile(t *testing.T) {
	// Started by the first row that needs it, for all of them: the
	// registry lives as long as the parent test.
	var reg *tr.Registry
	parent := t
	registry := func(*testing.T) *tr.Registry {
		if reg == nil {
			reg = tr.Start(parent, tr.Options{})
		}
		return reg
	}
	old := stallTimeout
	stallTimeout = time.Second
	t.Cleanup(func() { stallTimeout = old })

	rows := []struct {
		name string
		// image serves or pushes the image and returns its reference.
		image func(t *testing.T) string
		// want are regular expressions the error must match.
		want []string
	}{{
		name: "config of 1 GiB",
		image: func(t *testing.T) string {
			r := registry(t)
			m, _ := smallImage(t, r, "big-config")
			m.Config.Size = 1 << 30
			return putManifest(t, r, "big-config:1g", m)
		},
		want: []string{`config: blob sha256:[0-9a-f]{64}: 1073741824 bytes is too large: minirun reads at most 8 MiB`},
	}, {
		name: "config that never ends",
		image: func(t *testing.T) string {
			cfg := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromString("endless"), Size: 4096}
			man := manifestJSON(t, cfg, []ocispec.Descriptor{tarLayer(1024)})
			return serveFake(t, map[string]http.HandlerFunc{
				"latest": answer(ocispec.MediaTypeImageManifest, man),
			}, map[string]http.HandlerFunc{
				cfg.Digest.String(): endless(`{"os":"linux","config":{"Env":["A=`, -1),
			})
		},
		want: []string{`config: blob sha256:[0-9a-f]{64}: the registry sent more than the 4096 bytes of its descriptor`},
	}, {
		name: "manifest that never ends",
		image: func(t *testing.T) string {
			return serveFake(t, map[string]http.HandlerFunc{
				"latest": endless(`{"schemaVersion":2,"mediaType":"`+ocispec.MediaTypeImageManifest+`","annotations":{"a":"`, -1),
			}, nil)
		},
		want: []string{`manifest is too large: minirun reads at most 4 MiB`},
	}, {
		name: "manifest announced as 1 GiB",
		image: func(t *testing.T) string {
			return serveFake(t, map[string]http.HandlerFunc{
				"latest": endless(`{"schemaVersion":2,"annotations":{"a":"`, 1<<30),
			}, nil)
		},
		want: []string{`^[^ ]+/hostile:latest: manifest of 1073741824 bytes is too large: minirun reads at most 4 MiB$`},
	}, {
		name: "index that lists itself",
		// Digests make a true cycle impossible (an index cannot hold its
		// own hash), so a loop takes a registry that answers a child's
		// digest with the index again. Only one level of index is ever
		// followed, and the child's bytes are checked against its digest.
		image: func(t *testing.T) string {
			child := digest.FromString("a manifest this registry never sends")
			host := HostPlatform()
			idx := mustJSON(ocispec.Index{Versioned: versioned(), MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{
				{MediaType: ocispec.MediaTypeImageManifest, Digest: child, Size: 300, Platform: &host},
			}})
			self := answer(ocispec.MediaTypeImageIndex, idx)
			return serveFake(t, map[string]http.HandlerFunc{"latest": self, child.String(): self}, nil)
		},
		want: []string{`manifest digest: "sha256:[0-9a-f]{64}" does not match requested digest`},
	}, {
		name: "index inside an index",
		image: func(t *testing.T) string {
			host := tr.HostPlatform()
			img := tr.ManyLayers(t, 1, tr.BuildOptions{})
			inner := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img.Image, Descriptor: v1.Descriptor{Platform: &host}})
			outer := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: inner, Descriptor: v1.Descriptor{Platform: &host}})
			return registry(t).PushIndex(t, "nested:latest", outer)
		},
		want: []string{`an index inside an index is unsupported: minirun follows one level`},
	}, {
		name: "10000 layers",
		image: func(t *testing.T) string {
			r := registry(t)
			m, cfg := smallImage(t, r, "many")
			layer := m.Layers[0]
			m.Layers = nil
			ids := cfg.RootFS.DiffIDs
			cfg.RootFS.DiffIDs = nil
			for range 10000 {
				m.Layers = append(m.Layers, layer)
				cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, ids[0])
			}
			m.Config = pushBlob(t, r, "many", m.Config.MediaType, mustJSON(cfg))
			return putManifest(t, r, "many:10000", m)
		},
		want: []string{`manifest lists 10000 layers, more than the 500 overlayfs can stack`},
	}, {
		name: "layer that never ends",
		image: func(t *testing.T) string {
			layer := tarLayer(1 << 20)
			return serveImage(t, layer, endless("", -1))
		},
		want: []string{`layer sha256:[0-9a-f]{64}: the registry sent more than the 1048576 bytes the manifest says`},
	}, {
		name: "layer that stops halfway",
		image: func(t *testing.T) string {
			layer := tarLayer(1 << 20)
			return serveImage(t, layer, stalls(layer.Size, layer.Size/2))
		},
		want: []string{`layer sha256:[0-9a-f]{64}: transfer ended after 524288 of 1048576 bytes: .*no data for 1s`},
	}, {
		name: "sha512 layer",
		image: func(t *testing.T) string {
			layer := tarLayer(1024)
			layer.Digest = digest.SHA512.FromString("layer")
			return serveImage(t, layer, nil)
		},
		want: []string{`layer 1: digest "sha512:[0-9a-f]{128}": algorithm "sha512" is unsupported \(minirun stores sha256 content only\)`},
	}, {
		name: "md5 config",
		image: func(t *testing.T) string {
			cfg := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: "md5:5d41402abc4b2a76b9719d911017c592", Size: 100}
			return serveFake(t, map[string]http.HandlerFunc{
				"latest": answer(ocispec.MediaTypeImageManifest, manifestJSON(t, cfg, nil)),
			}, nil)
		},
		want: []string{`config: digest "md5:5d41402abc4b2a76b9719d911017c592": algorithm "md5" is unsupported`},
	}}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			s := newStore(t)
			ref := row.image(t)
			before := snapshot(t, s.Root())
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var err error
			alloc := allocated(func() { _, err = s.Pull(ctx, ref, PullOptions{}) })
			if err == nil {
				t.Fatal("pull succeeded")
			}
			msg := err.Error()
			for _, w := range row.want {
				if !regexp.MustCompile(w).MatchString(msg) {
					t.Errorf("error %q does not match %q", msg, w)
				}
			}
			if strings.Contains(msg, "\n") || len(msg) > 400 {
				t.Errorf("error is not one short line: %q", msg)
			}
			if alloc > maxHostileAlloc {
				t.Errorf("the pull allocated %d MiB, more than %d", alloc>>20, maxHostileAlloc>>20)
			}
			t.Logf("%s: %d KiB allocated", msg, alloc>>10)
			sameSnapshot(t, before, snapshot(t, s.Root()))
			if ents, _ := os.ReadDir(filepath.Join(s.Root(), "tmp")); len(ents) != 0 {
				t.Errorf("tmp/ keeps %d entries", len(ents))
			}
			if _, err := s.Get(ref); !errors.Is(err, ErrNotFound) {
				t.Errorf("the store names the image: %v", err)
			}
		})
	}
}

// allocated is how many bytes of heap f allocates, in all goroutines
// (the fake registry's included).
func allocated(f func()) uint64 {
	var a, b goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&a)
	f()
	goruntime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// smallImage pushes a one-layer image to r as repo and returns its
// manifest and config, for a test to twist and put back.
func smallImage(t *testing.T, r *tr.Registry, repo string) (*ocispec.Manifest, *ocispec.Image) {
	t.Helper()
	img := tr.ManyLayers(t, 1, tr.BuildOptions{})
	r.Push(t, repo+":base", img.Image)
	raw, err := img.Image.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	must(t, json.Unmarshal(raw, &m))
	rawCfg, err := img.Image.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var cfg ocispec.Image
	must(t, json.Unmarshal(rawCfg, &cfg))
	return &m, &cfg
}

// pushBlob uploads data to repo on r and returns its descriptor.
func pushBlob(t *testing.T, r *tr.Registry, repo, mediaType string, data []byte) ocispec.Descriptor {
	t.Helper()
	rp, err := name.NewRepository(r.Ref(repo), name.Insecure)
	must(t, err)
	must(t, remote.WriteLayer(rp, static.NewLayer(data, types.MediaType(mediaType)), r.RemoteOptions()...))
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
}

// rawManifest is a manifest to put as it is.
type rawManifest struct {
	raw       []byte
	mediaType types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mediaType, nil }

// putManifest stores m on r as ref ("repo:tag") and returns its
// reference. The registry checks that every blob it names exists, not
// that their sizes match.
func putManifest(t *testing.T, r *tr.Registry, ref string, m *ocispec.Manifest) string {
	t.Helper()
	full := r.Ref(ref)
	nr, err := name.ParseReference(full, name.Insecure)
	must(t, err)
	must(t, remote.Put(nr, rawManifest{mustJSON(m), types.MediaType(m.MediaType)}, r.RemoteOptions()...))
	return full
}

// tarLayer is the descriptor of an uncompressed layer of size bytes
// whose content nobody will see: the pulls fail before its digest
// matters.
func tarLayer(size int64) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromString(fmt.Sprint("layer", size)), Size: size}
}

func manifestJSON(t *testing.T, cfg ocispec.Descriptor, layers []ocispec.Descriptor) []byte {
	t.Helper()
	return mustJSON(ocispec.Manifest{Versioned: versioned(), MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: layers})
}

// serveImage serves a one-layer image whose manifest and config are
// sound, and whose layer blob is answered by blob.
func serveImage(t *testing.T, layer ocispec.Descriptor, blob http.HandlerFunc) string {
	t.Helper()
	cfg := mustJSON(ocispec.Image{
		Platform: HostPlatform(),
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layer.Digest}},
	})
	cfgDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	blobs := map[string]http.HandlerFunc{cfgDesc.Digest.String(): answer(cfgDesc.MediaType, cfg)}
	if blob != nil {
		blobs[layer.Digest.String()] = blob
	}
	return serveFake(t, map[string]http.HandlerFunc{
		"latest": answer(ocispec.MediaTypeImageManifest, manifestJSON(t, cfgDesc, []ocispec.Descriptor{layer})),
	}, blobs)
}

// fakePath splits a distribution API path: /v2/NAME/(manifests|blobs)/REF.
var fakePath = regexp.MustCompile(`^/v2/(.+)/(manifests|blobs)/([^/]+)$`)

// serveFake starts a registry on 127.0.0.1 that answers GETs of
// manifests (by tag or digest) and blobs (by digest) from the maps, and
// 404 to everything else, HEADs included (a puller then falls back to a
// GET). It returns the reference of "hostile:latest" on it.
func serveFake(t *testing.T, manifests, blobs map[string]http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			w.WriteHeader(http.StatusOK)
			return
		}
		m := fakePath.FindStringSubmatch(r.URL.Path)
		if m == nil || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		table := manifests
		if m[2] == "blobs" {
			table = blobs
		}
		if h, ok := table[m[3]]; ok {
			h(w, r)
			return
		}
		http.NotFound(w, r)
	}))
	// A handler still streaming when the test ends is stopped by its
	// request's context, which Close cancels.
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://") + "/hostile:latest"
}

// answer answers body, as a registry answers a blob or manifest.
func answer(mediaType string, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", mediaType)
		w.Header().Set("Docker-Content-Digest", digest.FromBytes(body).String())
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body)
	}
}

// endless answers prefix and then 'a's until the client hangs up,
// announcing length when it is not negative. It writes from one buffer,
// so that its own allocations do not count against the puller's.
func endless(prefix string, length int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if length >= 0 {
			w.Header().Set("Content-Length", fmt.Sprint(length))
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		buf := []byte(strings.Repeat("a", 32<<10))
		if _, err := w.Write([]byte(prefix)); err != nil {
			return
		}
		for sent := int64(len(prefix)); r.Context().Err() == nil && (length < 0 || sent < length); {
			n, err := w.Write(buf)
			sent += int64(n)
			if err != nil {
				return
			}
		}
	}
}

// stalls announces length bytes, sends the first send of them and then
// nothing until the client hangs up.
func stalls(length, send int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(length))
		w.Write(make([]byte, send))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}
}
