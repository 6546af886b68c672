package test

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// leftovers snapshots what a failed call could leave behind.
type leftovers struct {
	mounts  []string
	orphans map[int]bool
}

func snapshot() leftovers {
	l := leftovers{mounts: mountsUnder(suiteDir), orphans: map[int]bool{}}
	for _, p := range liveOrphans() {
		l.orphans[p.pid] = true
	}
	return l
}

// checkNothingLeft fails t if the runtime left a state dir under root, a
// mount under the suite's dirs or a living process since before.
func checkNothingLeft(t *testing.T, before leftovers, root string, keep ...string) {
	t.Helper()
	if left := stateDirs(root); !reflect.DeepEqual(left, keep) && len(left)+len(keep) > 0 {
		t.Errorf("state under --root: %v, want %v", left, keep)
	}
	if after := mountsUnder(suiteDir); !reflect.DeepEqual(after, before.mounts) {
		t.Errorf("host mounts under %s changed:\nbefore %v\nafter  %v", suiteDir, before.mounts, after)
	}
	for _, p := range waitNoOrphans(2*time.Second, before.orphans) {
		t.Errorf("process %d (%s) left behind", p.pid, p.comm)
	}
}

// TestBadInput: each bad request fails with one line on stderr that names
// the problem, a non-zero exit, and nothing left behind.
func TestBadInput(t *testing.T) {
	type row struct {
		name        string
		minirunOnly string // why runc passes where minirun must refuse
		gate        func() string
		args        func(t *testing.T) []string
		want        string // regexp stderr must match
	}
	createWith := func(mutate func(*specs.Spec)) func(t *testing.T) []string {
		return func(t *testing.T) []string { return []string{"create", "--bundle", newBundle(t, mutate), newID(t)} }
	}
	badID := func(id string) func(t *testing.T) []string {
		return func(t *testing.T) []string {
			t.Cleanup(func() { rt(t, "delete", "--force", id) }) // should the runtime take it
			return []string{"create", "--bundle", newBundle(t, nil), id}
		}
	}
	rows := []row{{
		name: "malformed config.json",
		args: func(t *testing.T) []string {
			b := newBundle(t, nil)
			path := filepath.Join(b, "config.json")
			full, _ := os.ReadFile(path)
			if err := os.WriteFile(path, full[:len(full)/2], 0o644); err != nil {
				t.Fatal(err)
			}
			return []string{"create", "--bundle", b, newID(t)}
		},
		want: `(?i)json|EOF|config`,
	}, {
		name: "missing rootfs",
		args: createWith(func(s *specs.Spec) { s.Root.Path = "/nonexistent-rootfs-dir" }),
		want: `nonexistent-rootfs-dir`,
	}, {
		name: "unknown namespace type",
		args: createWith(func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "foo"})
		}),
		want: `foo`,
	}, {
		name: "hard rlimit above the host's",
		// Raising a hard limit needs CAP_SYS_RESOURCE, which this machine's
		// bounding set lacks; where the tests hold it, nothing fails.
		gate: func() string {
			if canRaiseHardLimits() {
				return "this process holds CAP_SYS_RESOURCE: raising a hard limit works here"
			}
			return ""
		},
		args: createWith(func(s *specs.Spec) {
			var l unix.Rlimit
			unix.Getrlimit(unix.RLIMIT_NOFILE, &l)
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: l.Max + 1}}
		}),
		want: `(?i)rlimit`,
	}}
	for _, id := range []string{"../x", "a/b", ""} {
		rows = append(rows, row{name: "id " + id, args: badID(id), want: `(?i)\bid\b`})
	}
	// runc 1.1.5 takes any of [\w+-.]+ other than . and ..; minirun allows
	// only [A-Za-z0-9][A-Za-z0-9_.-]* without "..".
	for _, id := range []string{".hidden", "x..", "a..b", "_x", "a+b"} {
		rows = append(rows, row{name: "id " + id, args: badID(id), want: `(?i)\bid\b`,
			minirunOnly: "runc 1.1.5 accepts this ID; minirun's rule is stricter"})
	}
	for _, args := range [][]string{{"state", "ID"}, {"start", "ID"}, {"kill", "ID", "KILL"}, {"delete", "ID"}, {"exec", "ID", "/probe"}, {"ps", "ID"}} {
		for i := range args {
			if args[i] == "ID" {
				args[i] = "no-such-container"
			}
		}
		rows = append(rows, row{
			name: strings.Join(args, " "),
			args: func(t *testing.T) []string { return args },
			want: `does not exist`,
		})
	}

	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			if r.minirunOnly != "" && !isMinirun {
				t.Skip(r.minirunOnly)
			}
			if r.gate != nil {
				if why := r.gate(); why != "" {
					t.Skip(why)
				}
			}
			root := rootFor(t)
			before := snapshot()
			res := rt(t, r.args(t)...)
			if res.code == 0 || res.err != nil {
				t.Fatalf("want a plain failure, got %v", res)
			}
			oneLine(t, res)
			if !regexp.MustCompile(r.want).MatchString(res.stderr) {
				t.Errorf("stderr does not name the problem (want /%s/):\n%v", r.want, res)
			}
			checkNothingLeft(t, before, root)
		})
	}
}

// TestDuplicateID: a second create of a live ID fails and leaves the first
// container as it was.
func TestDuplicateID(t *testing.T) {
	b := newBundle(t, func(s *specs.Spec) { s.Process.Args = []string{"/probe", "-sleep", "60s"} })
	c := create(t, b)
	first := state(t, c.id)
	before := snapshot()

	res := rt(t, "create", "--bundle", newBundle(t, nil), c.id)
	if res.code == 0 {
		t.Fatalf("second create of %s succeeded: %v", c.id, res)
	}
	oneLine(t, res)
	if !strings.Contains(res.stderr, "exists") {
		t.Errorf("stderr does not say the ID exists:\n%v", res)
	}
	checkNothingLeft(t, before, rootFor(t), c.id)

	if now := state(t, c.id); now.Status != "created" || now.Pid != first.Pid || now.Bundle != b || !alive(now.Pid) {
		t.Errorf("first container changed: %+v, was %+v", now, first)
	}
	mustRT(t, "start", c.id)
	p := waitReport(t, c)
	if p.Pid != 1 {
		t.Errorf("first container's process pid %d, want 1", p.Pid)
	}
}

// TestDeleteForceUnknown: delete --force of an unknown ID succeeds quietly
// (runc does; containerd's shim runs delete, then delete --force).
func TestDeleteForceUnknown(t *testing.T) {
	before := snapshot()
	if r := rt(t, "delete", "--force", "no-such-container"); r.code != 0 {
		t.Errorf("want success, got %v", r)
	}
	checkNothingLeft(t, before, rootFor(t))
}
