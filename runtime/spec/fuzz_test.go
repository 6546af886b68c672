package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// FuzzLoad runs what Load does with the bytes of a config.json (decode,
// make mount destinations absolute, Validate) on any bytes. A refusal
// wraps ErrInvalid and is one line; an accepted config keeps the
// promises Validate makes (a process with arguments and an absolute cwd,
// absolute mount destinations) and is accepted again, unchanged, after a
// JSON round trip, which is how the runtime hands it to init.
func FuzzLoad(f *testing.F) {
	for _, s := range []*specs.Spec{Default(), DockerDefault()} {
		b, err := json.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	if b, err := os.ReadFile(filepath.Join("testdata", "default.json")); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		`{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/"},"mounts":[{"destination":"proc","type":"proc"}]}`,
		`{"ociVersion":"1.2.0","root":{"path":"rootfs"},"process":{"args":["a"],"cwd":"/","env":["A"],"rlimits":[{"type":"RLIMIT_NOFILE","soft":2,"hard":1}]}}`,
		`{"ociVersion":"1.0.0","root":{"path":"rootfs"},"process":{"args":["a"],"cwd":"/"},"hostname":"h","linux":{"sysctl":{"net.ipv4.ip_forward":"1"}}}`,
		`{"ociVersion":"1.0.0","root":{"path":"rootfs"},"process":{"args":["a"],"cwd":"/"},"linux":{"namespaces":[{"type":"pid"},{"type":"pid"}],"uidMappings":[{"containerID":0,"hostID":1,"size":1}]}}`,
		`{"ociVersion":"1.0.0","root":{"path":"rootfs"},"process":{"args":["a"],"cwd":"/","capabilities":{"bounding":["CAP_NOPE"]},"oomScoreAdj":1001}}`,
		`{"ociVersion":"1.0.0","root":{"path":"/nonexistent"},"process":{"args":["a"],"cwd":"."},"hooks":{"prestart":[{"path":"x","timeout":0}]}}`,
		"{\"ociVersion\": 1}", "[", "",
	} {
		f.Add([]byte(s))
	}
	// Load warns about each relative mount destination; a fuzzer would
	// print thousands of warnings.
	old := slog.Default()
	slog.SetDefault(slog.New(slog.DiscardHandler))
	f.Cleanup(func() { slog.SetDefault(old) })
	bundle := f.TempDir()
	if err := os.Mkdir(filepath.Join(bundle, "rootfs"), 0o755); err != nil {
		f.Fatal(err)
	}
	load := func(data []byte) (*specs.Spec, error) {
		var s specs.Spec
		if err := decode(data, &s); err != nil {
			return nil, err
		}
		absMountDestinations(&s, "config.json")
		if err := Validate(&s, bundle); err != nil {
			return nil, err
		}
		return &s, nil
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := load(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("refusal does not wrap ErrInvalid: %v", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("refusal of more than one line: %q", err)
			}
			return
		}
		if s.Process == nil || len(s.Process.Args) == 0 || !filepath.IsAbs(s.Process.Cwd) {
			t.Fatalf("accepted a config without a runnable process: %+v", s.Process)
		}
		if err := ValidateProcess(s.Process); err != nil {
			t.Fatalf("Validate accepted a process ValidateProcess refuses: %v", err)
		}
		for _, m := range s.Mounts {
			if !filepath.IsAbs(m.Destination) {
				t.Fatalf("accepted mount destination %q", m.Destination)
			}
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("marshal an accepted config: %v", err)
		}
		s2, err := load(b)
		if err != nil {
			t.Fatalf("accepted config refused after a JSON round trip: %v\n%s", err, b)
		}
		b2, err := json.Marshal(s2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, b2) {
			t.Fatalf("config changed in a JSON round trip:\n%s\n%s", b, b2)
		}
	})
}

// formatVolume writes v back as -v takes it.
func formatVolume(v VolumeSpec) string {
	if v.Named && v.Source == "" {
		return v.Target
	}
	s := v.Source + ":" + v.Target
	if v.ReadOnly {
		s += ":ro"
	}
	return s
}

// FuzzParseVolume: an accepted -v has an absolute, clean target that is
// not /, a source that is an absolute clean path or a volume name (or
// nothing, for an anonymous volume), and parses again to the same from
// its canonical form.
func FuzzParseVolume(f *testing.F) {
	for _, s := range []string{
		"/data", "/srv:/data", "/srv:/data:ro", "/srv:/data:rw", "vol:/data", "vol:/data:ro",
		"/data:ro", "/srv/../x/:/data/./y/", "/srv:data", "/srv:/", ":/data", "a:b:c:d",
		"-vol:/data", "/srv:/data:z", "", "/", "v.1_x-y:/d",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVolume(s)
		if err != nil {
			if v != (VolumeSpec{}) {
				t.Fatalf("ParseVolume(%q) returned %+v with an error", s, v)
			}
			return
		}
		if v.Target == "" || !path.IsAbs(v.Target) || path.Clean(v.Target) != v.Target || v.Target == "/" {
			t.Fatalf("ParseVolume(%q): target %q", s, v.Target)
		}
		switch {
		case !v.Named:
			if !path.IsAbs(v.Source) || path.Clean(v.Source) != v.Source {
				t.Fatalf("ParseVolume(%q): bind source %q", s, v.Source)
			}
		case v.Source != "":
			if !volumeName.MatchString(v.Source) {
				t.Fatalf("ParseVolume(%q): volume name %q", s, v.Source)
			}
		case v.ReadOnly:
			t.Fatalf("ParseVolume(%q): a read-only anonymous volume", s)
		}
		again, err := ParseVolume(formatVolume(v))
		if err != nil || again != v {
			t.Fatalf("ParseVolume(%q) = %+v; its form %q parses to %+v, %v", s, v, formatVolume(v), again, err)
		}
	})
}

// FuzzParseUlimit: an accepted --ulimit is an rlimit the config
// validation takes (a known type, soft <= hard), and parses again to
// the same from its canonical form.
func FuzzParseUlimit(f *testing.F) {
	for _, s := range []string{
		"nofile=1024:2048", "nproc=512", "core=-1", "stack=-1:-1", "nofile=2:1", "nofile=1:-1",
		"cpu=18446744073709551615", "cpu=18446744073709551614", "as=1", "nofile=", "nofile=1:2:3",
		"=1", "NOFILE=1", "nofile=+1", "nofile=0x10", "nofile= 1",
	} {
		f.Add(s)
	}
	names := map[string]string{}
	for name, typ := range ulimitTypes {
		names[typ] = name
	}
	limit := func(v uint64) string {
		if v == rlimInfinity {
			return "-1"
		}
		return strconv.FormatUint(v, 10)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rl, err := ParseUlimit(s)
		if err != nil {
			return
		}
		p := &specs.Process{Args: []string{"x"}, Cwd: "/", Rlimits: []specs.POSIXRlimit{rl}}
		if err := ValidateProcess(p); err != nil {
			t.Fatalf("ParseUlimit(%q) = %+v, which validation refuses: %v", s, rl, err)
		}
		form := names[rl.Type] + "=" + limit(rl.Soft) + ":" + limit(rl.Hard)
		again, err := ParseUlimit(form)
		if err != nil || again != rl {
			t.Fatalf("ParseUlimit(%q) = %+v; its form %q parses to %+v, %v", s, rl, form, again, err)
		}
	})
}
