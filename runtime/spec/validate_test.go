package spec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestRootfsPath(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		root   *specs.Root
		bundle string
		want   string
	}{
		{"relative in absolute bundle", &specs.Root{Path: "rootfs"}, "/b", "/b/rootfs"},
		{"relative with dots", &specs.Root{Path: "./a/../rootfs/"}, "/b/", "/b/rootfs"},
		{"relative bundle", &specs.Root{Path: "rootfs"}, "b", filepath.Join(wd, "b/rootfs")},
		{"absolute ignores bundle", &specs.Root{Path: "/srv/root/"}, "/b", "/srv/root"},
		{"no root", nil, "/b", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RootfsPath(&specs.Spec{Root: tt.root}, tt.bundle)
			if got != tt.want {
				t.Errorf("RootfsPath(root %+v, %q) = %q, want %q", tt.root, tt.bundle, got, tt.want)
			}
		})
	}
	if got := RootfsPath(nil, "/b"); got != "" {
		t.Errorf("RootfsPath(nil) = %q, want empty", got)
	}
}

func TestIsVersion1(t *testing.T) {
	tests := []struct {
		v    string
		want bool
	}{
		{"1.0.0", true},
		{"1.3.0", true},
		{"1.0.2-dev", true},
		{"1.0.0-rc5+build.1", true},
		{"1.2", true},
		{"1.10.100", true},
		{"", false},
		{"1", false},
		{"1.", false},
		{"1.x.0", false},
		{"1.0.0.0", false},
		{"0.5.0-dev", false},
		{"2.0.0", false},
		{"10.0.0", false},
		{" 1.0.0", false},
		{"v1.0.0", false},
	}
	for _, tt := range tests {
		if got := isVersion1(tt.v); got != tt.want {
			t.Errorf("isVersion1(%q) = %v, want %v", tt.v, got, tt.want)
		}
	}
}

func TestPosition(t *testing.T) {
	data := []byte("ab\ncd\n\nef")
	tests := []struct {
		offset    int64
		line, col int
	}{
		{0, 1, 1},  // nothing read yet: point at the start
		{1, 1, 1},  // 'a'
		{2, 1, 2},  // 'b'
		{3, 1, 3},  // the first newline ends line 1
		{4, 2, 1},  // 'c'
		{7, 3, 1},  // the empty line's newline
		{9, 4, 2},  // 'f', the last byte
		{99, 4, 2}, // past the end: the last byte
	}
	for _, tt := range tests {
		line, col := position(data, tt.offset)
		if line != tt.line || col != tt.col {
			t.Errorf("position(%q, %d) = %d:%d, want %d:%d", data, tt.offset, line, col, tt.line, tt.col)
		}
	}
	if line, col := position(nil, 0); line != 1 || col != 1 {
		t.Errorf("position of an empty file = %d:%d, want 1:1", line, col)
	}
}

// TestValidateDirect covers what only a caller of Validate, not of Load, can
// hand it.
func TestValidateDirect(t *testing.T) {
	bundle := newBundle(t, nil)
	tests := []struct {
		name string
		spec *specs.Spec
		want string
	}{
		{"nil spec", nil, "config is missing"},
		{
			// Load would have made it absolute; Validate does not rewrite.
			name: "relative mount destination",
			spec: func() *specs.Spec {
				s := Default()
				s.Mounts[1].Destination = "dev"
				return s
			}(),
			want: `mounts[1].destination "dev" is not absolute`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.spec, bundle)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate = %v, want an ErrInvalid containing %q", err, tt.want)
			}
		})
	}
}

// TestErrorFormat pins the shape of every validation error: the field, what
// is wrong, then ErrInvalid's text, on one line.
func TestErrorFormat(t *testing.T) {
	err := invalidf("process.cwd", "%q is not absolute", "x")
	const want = `process.cwd "x" is not absolute: invalid config`
	if err.Error() != want {
		t.Errorf("invalidf = %q, want %q", err, want)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("invalidf does not wrap ErrInvalid")
	}
}
