package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestLoadMissingConfig checks that a bundle without config.json is reported
// as a missing file, not as an invalid config.
func TestLoadMissingConfig(t *testing.T) {
	bundle := newBundle(t, nil)
	_, err := Load(bundle)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load = %v, want an error wrapping fs.ErrNotExist", err)
	}
	if errors.Is(err, ErrInvalid) {
		t.Errorf("error %q wraps ErrInvalid; a missing file is not an invalid config", err)
	}
	want := "open " + filepath.Join(bundle, "config.json") + ": no such file or directory"
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

// TestLoadMissingRootfsIsNotErrNotExist guards the choice to format, not wrap,
// the stat error of a missing rootfs: a caller testing for a missing
// config.json must not mistake it for one.
func TestLoadMissingRootfsIsNotErrNotExist(t *testing.T) {
	bundle := newBundle(t, marshal(t, Default()))
	remove(t, filepath.Join(bundle, "rootfs"))
	_, err := Load(bundle)
	if !errors.Is(err, ErrInvalid) || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load = %v; want ErrInvalid and not fs.ErrNotExist", err)
	}
}

// TestLoadAccepts lists configs that are unusual but valid.
func TestLoadAccepts(t *testing.T) {
	outside := t.TempDir() // a rootfs outside the bundle, named by absolute path
	tests := []struct {
		name   string
		raw    string
		mutate func(s *specs.Spec)
		setup  func(t *testing.T, bundle string)
	}{
		{
			name: "unknown fields",
			raw: `{"ociVersion": "1.0.2-dev", "x-vendor": {"a": 1},
				"process": {"args": ["sh"], "cwd": "/", "x-extra": true},
				"root": {"path": "rootfs"}}`,
		},
		{
			name: "minimal, without linux",
			raw:  `{"ociVersion": "1.0.0", "process": {"args": ["true"], "cwd": "/"}, "root": {"path": "rootfs"}}`,
		},
		{
			name:   "absolute root.path",
			mutate: func(s *specs.Spec) { s.Root.Path = outside },
		},
		{
			name:   "rootfs through a symlink",
			mutate: func(s *specs.Spec) { s.Root.Path = "link" },
			setup: func(t *testing.T, b string) {
				if err := os.Symlink("rootfs", filepath.Join(b, "link")); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "user namespace with mappings",
			mutate: func(s *specs.Spec) {
				s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "user"})
				s.Linux.UIDMappings = []specs.LinuxIDMapping{{HostID: 100000, Size: 65536}}
				s.Linux.GIDMappings = []specs.LinuxIDMapping{{HostID: 100000, Size: 65536}}
			},
		},
		{
			name: "every rlimit, hook and device kind",
			mutate: func(s *specs.Spec) {
				s.Process.Rlimits = nil
				for _, r := range rlimitTypes {
					s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: r, Soft: 1, Hard: 1})
				}
				s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/true", Timeout: new(5)}}}
				for _, typ := range deviceTypes {
					s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{Path: "/dev/x" + typ, Type: typ})
				}
				s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			config := []byte(tt.raw)
			if tt.raw == "" {
				config = defaultWith(t, tt.mutate)
			}
			bundle := newBundle(t, config)
			if tt.setup != nil {
				tt.setup(t, bundle)
			}
			if _, err := Load(bundle); err != nil {
				t.Fatalf("Load: %v", err)
			}
		})
	}
}

// TestLoadRelativeMountDestination checks that Load makes relative mount
// destinations absolute, as runc does, and says so in a warning.
func TestLoadRelativeMountDestination(t *testing.T) {
	var logged bytes.Buffer
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))

	bundle := newBundle(t, []byte(`{"ociVersion": "1.0.0",
		"process": {"args": ["sh"], "cwd": "/"}, "root": {"path": "rootfs"},
		"mounts": [
			{"destination": "proc", "type": "proc"},
			{"destination": "./data/../tmp"},
			{"destination": "/already/abs/"}
		]}`))
	s, err := Load(bundle)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	var got []string
	for _, m := range s.Mounts {
		got = append(got, m.Destination)
	}
	// Absolute destinations are left exactly as written.
	want := []string{"/proc", "/tmp", "/already/abs/"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("destinations = %q, want %q", got, want)
	}
	lines := strings.Split(strings.TrimSpace(logged.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 warnings, one per relative destination; got %q", logged.String())
	}
	for i, w := range []string{"field=mounts[0].destination destination=proc", "field=mounts[1].destination"} {
		if !strings.Contains(lines[i], "level=WARN") || !strings.Contains(lines[i], w) {
			t.Errorf("warning %d = %q, want a WARN containing %q", i, lines[i], w)
		}
	}
}

// defaultWith returns Default() changed by mutate (when not nil) as JSON.
func defaultWith(t *testing.T, mutate func(s *specs.Spec)) []byte {
	t.Helper()
	s := Default()
	if mutate != nil {
		mutate(s)
	}
	return marshal(t, s)
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}
