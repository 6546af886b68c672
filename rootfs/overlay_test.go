package rootfs

import (
	"fmt"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// layerDir is a path like those of the image store: about 100 bytes.
func layerDir(i int) string {
	return fmt.Sprintf("/var/lib/minirun/layers/sha256/%064x", i)
}

func layerDirs(n int) []string {
	dirs := make([]string, n)
	for i := range dirs {
		dirs[i] = layerDir(i)
	}
	return dirs
}

func TestOverlayValidate(t *testing.T) {
	long := "/" + strings.Repeat("a", maxOverlayPath) // one byte too many
	for _, tt := range []struct {
		name string
		o    *Overlay
		want string // a part of the error; "" for none
	}{
		{"nil", nil, "none given"},
		{"no layers", &Overlay{Upper: "/u", Work: "/w"}, "no lower layers"},
		{"one layer with upper", &Overlay{Lower: []string{"/l"}, Upper: "/u", Work: "/w"}, ""},
		{"read-only, two layers", &Overlay{Lower: []string{"/l1", "/l2"}}, ""},
		{"read-only, one layer", &Overlay{Lower: []string{"/l"}}, "two lower layers or more"},
		{"70 store layers", &Overlay{Lower: layerDirs(70), Upper: "/c/upper", Work: "/c/work"}, ""},
		{"500 layers", &Overlay{Lower: layerDirs(500), Upper: "/u", Work: "/w"}, ""},
		{"501 layers", &Overlay{Lower: layerDirs(501), Upper: "/u", Work: "/w"}, "at most 500"},
		{"relative layer", &Overlay{Lower: []string{"/l1", "l2"}, Upper: "/u", Work: "/w"}, "lower layer 1"},
		{"empty layer", &Overlay{Lower: []string{""}, Upper: "/u", Work: "/w"}, "absolute"},
		{"unclean layer", &Overlay{Lower: []string{"/a/../l"}, Upper: "/u", Work: "/w"}, "clean"},
		{"trailing slash", &Overlay{Lower: []string{"/l/"}, Upper: "/u", Work: "/w"}, "clean"},
		{"colon in layer", &Overlay{Lower: []string{"/a:b"}, Upper: "/u", Work: "/w"}, "separators"},
		{"comma in layer", &Overlay{Lower: []string{"/a,b"}, Upper: "/u", Work: "/w"}, "separators"},
		{"backslash in layer", &Overlay{Lower: []string{`/a\b`}, Upper: "/u", Work: "/w"}, "separators"},
		{"comma in upper", &Overlay{Lower: []string{"/l"}, Upper: "/u,x", Work: "/w"}, "overlay upper"},
		{"colon in work", &Overlay{Lower: []string{"/l"}, Upper: "/u", Work: "/w:x"}, "overlay work"},
		{"255 bytes", &Overlay{Lower: []string{long[:maxOverlayPath]}, Upper: "/u", Work: "/w"}, ""},
		{"256 bytes", &Overlay{Lower: []string{long}, Upper: "/u", Work: "/w"}, "256 bytes"},
		{"upper without work", &Overlay{Lower: []string{"/l"}, Upper: "/u"}, "both or neither"},
		{"work without upper", &Overlay{Lower: []string{"/l1", "/l2"}, Work: "/w"}, "both or neither"},
		{"relative upper", &Overlay{Lower: []string{"/l"}, Upper: "u", Work: "/w"}, "overlay upper"},
		{"relative work", &Overlay{Lower: []string{"/l"}, Upper: "/u", Work: "w"}, "overlay work"},
		{"upper is work", &Overlay{Lower: []string{"/l"}, Upper: "/u", Work: "/u"}, "two directories"},
	} {
		err := tt.o.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && err == nil:
			t.Errorf("%s: no error, want one about %q", tt.name, tt.want)
		case tt.want != "" && !strings.Contains(err.Error(), tt.want):
			t.Errorf("%s: error %q, want one about %q", tt.name, err, tt.want)
		}
	}
}

func TestOverlayConfigCheck(t *testing.T) {
	c := &Config{Rootfs: "/r", Spec: &specs.Spec{}, Overlay: &Overlay{Lower: []string{"rel"}}}
	if err := c.check(); err == nil || !strings.Contains(err.Error(), "overlay") {
		t.Errorf("check with a bad overlay = %v, want an overlay error", err)
	}
	c.Overlay = &Overlay{Lower: []string{"/l"}, Upper: "/u", Work: "/w"}
	if err := c.check(); err != nil {
		t.Errorf("check with a good overlay: %v", err)
	}
}

func TestOverlayData(t *testing.T) {
	for _, tt := range []struct {
		name        string
		lower       []string
		upper, work string
		want        string
	}{
		{"order kept", []string{"/top", "/mid", "/base"}, "/u", "/w", "lowerdir=/top:/mid:/base,upperdir=/u,workdir=/w"},
		{"read-only", []string{"/proc/self/fd/7", "/proc/self/fd/8"}, "", "", "lowerdir=/proc/self/fd/7:/proc/self/fd/8"},
	} {
		got, err := overlayData(tt.lower, tt.upper, tt.work, 4096)
		if err != nil || got != tt.want {
			t.Errorf("%s: overlayData = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}

	// The limit: a page, NUL included. 70 store paths do not fit, which
	// is why the fallback names layers by fd; 200 fds do.
	upper, work := "/var/lib/minirun/containers/"+strings.Repeat("c", 64)+"/upper", "/var/lib/minirun/containers/"+strings.Repeat("c", 64)+"/work"
	if _, err := overlayData(layerDirs(70), upper, work, 4096); err == nil || !strings.Contains(err.Error(), "70 layers") {
		t.Errorf("70 store paths: error %v, want one about the page", err)
	}
	fds := func(n int) []string {
		names := make([]string, n)
		for i := range names {
			names[i] = fmt.Sprintf("/proc/self/fd/%d", 10+i)
		}
		return names
	}
	if _, err := overlayData(fds(200), upper, work, 4096); err != nil {
		t.Errorf("200 fds: %v", err)
	}
	if _, err := overlayData(fds(230), upper, work, 4096); err == nil {
		t.Error("230 fds fit in a page: the limit is not checked")
	}
	// Exactly at the edge: 4095 bytes and the NUL fit, 4096 do not.
	edge := []string{"/" + strings.Repeat("x", 4095-len("lowerdir=/"))}
	if _, err := overlayData(edge, "", "", 4096); err != nil {
		t.Errorf("4095 bytes: %v", err)
	}
	edge[0] += "x"
	if _, err := overlayData(edge, "", "", 4096); err == nil {
		t.Error("4096 bytes and a NUL fit in 4096")
	}
}
