package cgroups

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Captured /proc/self/cgroup texts.
const (
	// The hybrid development host: every v1 controller in its own
	// hierarchy, the process in a memory cgroup of its own.
	procHybrid = `9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/b6861d3c376576f62d01b13fd80d8346
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
`
	// A Debian 10 host with systemd: cpu and cpuacct mounted together.
	procSystemdV1 = `12:pids:/user.slice/user-1000.slice/session-2.scope
11:cpu,cpuacct:/user.slice
10:net_cls,net_prio:/
9:memory:/user.slice/user-1000.slice/session-2.scope
8:freezer:/
7:devices:/user.slice
6:cpuset:/
1:name=systemd:/user.slice/user-1000.slice/session-2.scope
0::/user.slice/user-1000.slice/session-2.scope
`
	// Pure cgroup v2.
	procV2 = "0::/user.slice/user-1000.slice/session-2.scope\n"
)

func TestParseProcCgroup(t *testing.T) {
	pc, err := parseProcCgroup(procSystemdV1)
	if err != nil {
		t.Fatal(err)
	}
	if !pc.HasUnified || pc.Unified != "/user.slice/user-1000.slice/session-2.scope" {
		t.Errorf("unified = %q (%v)", pc.Unified, pc.HasUnified)
	}
	if h := pc.V1["cpuacct"]; h.Path != "/user.slice" || strings.Join(h.Controllers, ",") != "cpu,cpuacct" {
		t.Errorf("cpuacct = %+v", h)
	}
	if h := pc.V1["memory"]; h.Path != "/user.slice/user-1000.slice/session-2.scope" {
		t.Errorf("memory = %+v", h)
	}
	if _, ok := pc.V1["name=systemd"]; ok {
		t.Error("named hierarchy kept")
	}
	if len(pc.V1) != 9 {
		t.Errorf("v1 controllers = %v", pc.V1)
	}

	pc, err = parseProcCgroup(procV2)
	if err != nil || !pc.HasUnified || len(pc.V1) != 0 {
		t.Errorf("v2: %+v, %v", pc, err)
	}
	for _, bad := range []string{"garbage\n", "0::relative\n", ":memory:/\n"} {
		if _, err := parseProcCgroup(bad); err == nil {
			t.Errorf("parse %q: no error", bad)
		}
	}
}

func TestContainerPath(t *testing.T) {
	for _, tc := range []struct {
		path, id, want string
		abs            bool
		wantErr        string
	}{
		{path: "", id: "c1", want: "minirun/c1"},
		{path: "/minirun/c1", want: "minirun/c1", abs: true},
		{path: "/a//b/./c/", want: "a/b/c", abs: true},
		{path: "pods/c1", want: "pods/c1"},
		{path: "", id: "", wantErr: "container id"},
		{path: "", id: "a/b", wantErr: "container id"},
		{path: "", id: "..", wantErr: "container id"},
		{path: "/", wantErr: "root cgroup"},
		{path: ".", wantErr: "root cgroup"},
		{path: "/a/../../etc", wantErr: `".." is not allowed`},
		{path: "../x", wantErr: `".." is not allowed`},
		{path: "system.slice:minirun:c1", wantErr: "systemd form"},
	} {
		got, abs, err := containerPath(tc.path, tc.id)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("containerPath(%q, %q) err = %v, want %q", tc.path, tc.id, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want || abs != tc.abs {
			t.Errorf("containerPath(%q, %q) = %q, %v, %v; want %q, %v", tc.path, tc.id, got, abs, err, tc.want, tc.abs)
		}
	}
}

func reader(text string) func() ([]byte, error) {
	return func() ([]byte, error) { return []byte(text), nil }
}

func TestNewV2Paths(t *testing.T) {
	root := "/sys/fs/cgroup"
	for _, tc := range []struct {
		name, path, self, want, wantErr string
	}{
		{name: "default", self: procV2, want: root + "/user.slice/user-1000.slice/session-2.scope/minirun/c1"},
		{name: "relative", path: "pods/c1", self: "0::/\n", want: root + "/pods/c1"},
		{name: "absolute ignores own cgroup", path: "/minirun/c1", want: root + "/minirun/c1"},
		{name: "relative without a v2 line", path: "c1", self: "4:memory:/\n", wantErr: "no cgroup v2"},
		{name: "outside own cgroup namespace", self: "0::/../../x\n", wantErr: "outside its cgroup namespace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			read := reader(tc.self)
			if tc.self == "" {
				read = func() ([]byte, error) { return nil, errors.New("an absolute path must not read /proc/self/cgroup") }
			}
			m, err := newManager(Config{Root: root, Mode: Unified, Path: tc.path, ID: "c1"}, read)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Dir() != tc.want {
				t.Errorf("Dir() = %q, want %q", m.Dir(), tc.want)
			}
			if st := m.State(); st.Mode != Unified || len(st.Dirs) != 1 || st.Dirs[""] != tc.want {
				t.Errorf("State() = %+v", st)
			}
		})
	}
}

// fakeV1Mounts lays out a v1 root like a systemd host's: directories for
// the hierarchies and the usual cpu, cpuacct symlinks to "cpu,cpuacct".
func fakeV1Mounts(t *testing.T) string {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"cpu,cpuacct", "cpuset", "devices", "freezer", "memory", "pids", "net_cls,net_prio", "systemd"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []string{"cpu", "cpuacct"} {
		if err := os.Symlink("cpu,cpuacct", filepath.Join(root, l)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestNewV1Paths(t *testing.T) {
	root := fakeV1Mounts(t)
	m, err := newManager(Config{Root: root, Mode: Hybrid, ID: "c1"}, reader(procSystemdV1))
	if err != nil {
		t.Fatal(err)
	}
	if m.Dir() != "" {
		t.Errorf("Dir() = %q on v1", m.Dir())
	}
	session := "user.slice/user-1000.slice/session-2.scope"
	want := map[string]string{
		"cpu":     root + "/cpu,cpuacct/user.slice/minirun/c1",
		"cpuacct": root + "/cpu,cpuacct/user.slice/minirun/c1",
		"cpuset":  root + "/cpuset/minirun/c1",
		"devices": root + "/devices/user.slice/minirun/c1",
		"freezer": root + "/freezer/minirun/c1",
		"memory":  root + "/memory/" + session + "/minirun/c1",
		"pids":    root + "/pids/" + session + "/minirun/c1",
	}
	if got := m.State().Dirs; !maps.Equal(got, want) {
		t.Errorf("Dirs:\n got %v\nwant %v", got, want)
	}
	if got := len(m.dirs()); got != 6 {
		t.Errorf("dirs() has %d entries, want 6 (cpu and cpuacct share one)", got)
	}

	m, err = newManager(Config{Root: root, Mode: Legacy, Path: "/pods/c1"}, reader(procSystemdV1))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.State().Dirs["memory"]; got != root+"/memory/pods/c1" {
		t.Errorf("absolute memory dir = %q", got)
	}
}

func TestNewV1MissingController(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"memory", "freezer"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	self := "2:memory:/\n1:freezer:/\n"
	r := &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](10)}}
	_, err := newManager(Config{Root: root, Mode: Legacy, ID: "c1", Resources: r}, reader(self))
	if err == nil || !strings.Contains(err.Error(), "controller pids is not mounted") {
		t.Fatalf("err = %v", err)
	}
	// Without the pids limit the container simply has no pids cgroup.
	m, err := newManager(Config{Root: root, Mode: Legacy, ID: "c1"}, reader(self))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.State().Dirs) != 2 {
		t.Errorf("Dirs = %v", m.State().Dirs)
	}
}

func TestNewRejectsResources(t *testing.T) {
	r := &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: ptr[uint16](100)}}
	_, err := newManager(Config{Root: fakeV1Mounts(t), Mode: Hybrid, ID: "c1", Resources: r}, reader(procHybrid))
	if !errors.Is(err, ErrNeedsV2) {
		t.Fatalf("err = %v, want ErrNeedsV2", err)
	}
}

func TestLoadRoundTrip(t *testing.T) {
	st := State{Mode: Unified, Dirs: map[string]string{"": "/sys/fs/cgroup/minirun/c1"}}
	m := Load(st, nil)
	st.Dirs[""] = "changed"
	if m.Dir() != "/sys/fs/cgroup/minirun/c1" {
		t.Errorf("Load kept a reference to the caller's map: Dir() = %q", m.Dir())
	}
	got := m.State()
	got.Dirs[""] = "changed"
	if m.Dir() != "/sys/fs/cgroup/minirun/c1" {
		t.Error("State() returned the manager's own map")
	}
}
