package spec

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestDefaultMatchesRunc compares Default with testdata/default.json: the
// config.json runc 1.1.2+ writes for `runc spec` on a cgroup v2 host, with the
// hostname changed to "minirun". Both sides are decoded into generic JSON
// values, so the comparison is about content, not formatting.
func TestDefaultMatchesRunc(t *testing.T) {
	s := Default()
	if s.Version != specs.Version {
		t.Errorf("ociVersion = %q, want %q", s.Version, specs.Version)
	}
	got := toJSONValue(t, s)
	want := toJSONValue(t, json.RawMessage(readFile(t, "testdata/default.json")))
	// The version follows the runtime-spec module, checked above.
	delete(got, "ociVersion")
	delete(want, "ociVersion")
	if !reflect.DeepEqual(got, want) {
		gotJSON, _ := json.MarshalIndent(got, "", "\t")
		t.Errorf("Default() differs from testdata/default.json; got:\n%s", gotJSON)
	}
}

// TestDefaultRoundTrip checks that what `minirun spec` writes is read back
// unchanged by Load: a default bundle must always be runnable.
func TestDefaultRoundTrip(t *testing.T) {
	data, err := json.MarshalIndent(Default(), "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	var decoded specs.Spec
	if err := json.Unmarshal(data, &decoded); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&decoded, Default()) {
		t.Errorf("Default() changed through JSON:\n got %+v\nwant %+v", &decoded, Default())
	}

	bundle := newBundle(t, data)
	if err := Validate(Default(), bundle); err != nil {
		t.Errorf("Validate(Default()) = %v", err)
	}
	loaded, err := Load(bundle)
	if err != nil {
		t.Fatalf("Load of a default bundle: %v", err)
	}
	if !reflect.DeepEqual(loaded, Default()) {
		t.Errorf("Load changed the default config:\n got %+v\nwant %+v", loaded, Default())
	}
}

// TestDefaultIsFresh checks that callers can change what Default returns
// without changing the next Default, or another field of the same Spec.
func TestDefaultIsFresh(t *testing.T) {
	a := Default()
	a.Process.Capabilities.Bounding[0] = "CAP_SYS_ADMIN"
	a.Mounts[0].Destination = "/changed"
	a.Linux.MaskedPaths[0] = "/changed"

	if got := a.Process.Capabilities.Permitted[0]; got != "CAP_AUDIT_WRITE" {
		t.Errorf("changing bounding changed permitted[0] to %q", got)
	}
	b := Default()
	if got := b.Process.Capabilities.Bounding[0]; got != "CAP_AUDIT_WRITE" {
		t.Errorf("second Default() bounding[0] = %q, want CAP_AUDIT_WRITE", got)
	}
	if got := b.Mounts[0].Destination; got != "/proc" {
		t.Errorf("second Default() mounts[0] = %q, want /proc", got)
	}
	if got := b.Linux.MaskedPaths[0]; got != "/proc/acpi" {
		t.Errorf("second Default() maskedPaths[0] = %q, want /proc/acpi", got)
	}
}

// newBundle returns a temporary bundle directory with an empty rootfs/ and,
// when config is not nil, a config.json holding it.
func newBundle(t *testing.T, config []byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if config != nil {
		writeFile(t, filepath.Join(dir, "config.json"), config)
	}
	return dir
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// toJSONValue encodes v and decodes it again as a generic JSON object.
func toJSONValue(t *testing.T, v any) map[string]any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
