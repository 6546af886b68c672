package test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A pull of a hostile image, through the binary: exit 1, one line on
// stderr naming the problem, nothing in the store. The image package's
// TestPullHostile has the whole table, with memory bounds; here is what
// the user sees. No registry stores these images, so a handler in the
// test serves them.
func TestImagePullHostile(t *testing.T) {
	requireMinirun(t)
	stateFor(t)
	const cfg = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	layers := make([]map[string]any, 10000)
	for i := range layers {
		layers[i] = map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": cfg, "size": 1}
	}
	many, err := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": 2},
		"layers": layers,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v2/":
		case r.Method == http.MethodGet && r.URL.Path == "/v2/many/manifests/latest":
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Write(many)
		case r.Method == http.MethodGet && r.URL.Path == "/v2/endless/manifests/latest":
			// A manifest that never ends, until the client hangs up.
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			buf := []byte(strings.Repeat(" ", 32<<10))
			for r.Context().Err() == nil {
				if _, err := w.Write(buf); err != nil {
					return
				}
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	store := t.TempDir()
	for _, tc := range []struct{ image, want string }{
		{"many", "manifest lists 10000 layers, more than the 500 overlayfs can stack"},
		{"endless", "manifest is too large: minirun reads at most 4 MiB"},
	} {
		t.Run(tc.image, func(t *testing.T) {
			r := imageRT(t, store, "pull", host+"/"+tc.image)
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
				t.Errorf("%v\nwant exit 1 and one line with %q", r, tc.want)
			}
			t.Log(strings.TrimSpace(r.stderr))
		})
	}
	if r := imageRT(t, store, "images", "-q"); r.code != 0 || r.stdout != "" {
		t.Errorf("images after failed pulls: %v", r)
	}
	for _, d := range []string{"blobs/sha256", "layers/sha256", "tmp"} {
		if ents, err := os.ReadDir(filepath.Join(store, d)); err != nil || len(ents) != 0 {
			t.Errorf("%s: %d entries, %v", d, len(ents), err)
		}
	}
}
