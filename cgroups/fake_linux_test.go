package cgroups

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A fake cgroup tree in a temporary directory, for the tests that need no
// root. A plain directory cannot imitate the kernel in two places, so the
// fake replaces the Manager's mkdir (a new cgroup comes with its interface
// files, and on v2 with the controllers its parent enables) and rmdir (a
// cgroup with processes or children is busy). Writes go to plain files: a
// written value reads back as written, never as the kernel would show it.

// fakeFiles are the interface files a new fake cgroup gets, per v2
// controller ("" is the core) or v1 hierarchy directory. rdma is offered
// by the fake v2 root but has no files: a controller the fake cannot do.
var fakeFiles = map[string]map[string]string{
	"": {"cgroup.procs": "", "cgroup.subtree_control": "", "cgroup.events": "populated 0\nfrozen 0\n",
		"cgroup.freeze": "0", "cgroup.kill": "", "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\n"},
	"memory": {"memory.max": "max", "memory.low": "0", "memory.swap.max": "max", "memory.current": "0",
		"memory.peak": "0", "memory.swap.current": "0", "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"},
	"cpu":     {"cpu.max": "max 100000", "cpu.weight": "100", "cpu.max.burst": "0", "cpu.idle": "0"},
	"pids":    {"pids.max": "max", "pids.current": "0"},
	"io":      {"io.max": "", "io.weight": "default 100", "io.stat": ""},
	"cpuset":  {"cpuset.cpus": "", "cpuset.mems": ""},
	"hugetlb": {"hugetlb.2MB.max": "max"},

	"v1": {"cgroup.procs": "", "tasks": ""},
	"v1/memory": {"memory.limit_in_bytes": "9223372036854771712", "memory.soft_limit_in_bytes": "9223372036854771712",
		"memory.memsw.limit_in_bytes": "9223372036854771712", "memory.swappiness": "60",
		"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n", "memory.usage_in_bytes": "0",
		"memory.max_usage_in_bytes": "0", "memory.memsw.usage_in_bytes": "0", "memory.failcnt": "0"},
	"v1/cpu,cpuacct": {"cpu.shares": "1024", "cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "-1",
		"cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n", "cpuacct.usage": "0", "cpuacct.stat": "user 0\nsystem 0\n"},
	"v1/cpuset":  {"cpuset.cpus": "", "cpuset.mems": ""},
	"v1/pids":    {"pids.max": "max", "pids.current": "0"},
	"v1/freezer": {"freezer.state": "THAWED"},
	"v1/devices": {"devices.allow": "", "devices.deny": "", "devices.list": "a *:* rwm"},
}

type fakeKernel struct {
	t    *testing.T
	root string
	v1   bool
}

// newFakeV2 makes a v2 root whose cgroup.controllers is offered. The root
// has processes of its own, as a real root does.
func newFakeV2(t *testing.T, offered string) *fakeKernel {
	k := &fakeKernel{t: t, root: t.TempDir()}
	k.put(k.root, map[string]string{"cgroup.controllers": offered, "cgroup.subtree_control": "", "cgroup.procs": "1\n"})
	return k
}

// newFakeV1 makes a v1 root laid out like a systemd host's (see
// fakeV1Mounts); the root cpuset has cpus 0-3 and mems 0.
func newFakeV1(t *testing.T) *fakeKernel {
	k := &fakeKernel{t: t, root: fakeV1Mounts(t), v1: true}
	k.put(filepath.Join(k.root, "cpuset"), map[string]string{"cpuset.cpus": "0-3\n", "cpuset.mems": "0\n"})
	return k
}

func (k *fakeKernel) put(dir string, files map[string]string) {
	k.t.Helper()
	for name, v := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
			k.t.Fatal(err)
		}
	}
}

func (k *fakeKernel) read(path string) string {
	k.t.Helper()
	b, err := os.ReadFile(filepath.Join(k.root, path))
	if err != nil {
		k.t.Fatal(err)
	}
	return string(b)
}

func (k *fakeKernel) exists(path string) bool {
	_, err := os.Stat(filepath.Join(k.root, path))
	return err == nil
}

func (k *fakeKernel) mkdir(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	if k.v1 {
		rel, _ := filepath.Rel(k.root, dir)
		hier, _, _ := strings.Cut(rel, "/")
		k.put(dir, fakeFiles["v1"])
		k.put(dir, fakeFiles["v1/"+hier])
		return nil
	}
	b, _ := os.ReadFile(filepath.Join(filepath.Dir(dir), "cgroup.subtree_control"))
	var enabled []string
	for _, w := range strings.Fields(string(b)) {
		c := strings.TrimPrefix(w, "+")
		enabled = append(enabled, c)
		k.put(dir, fakeFiles[c])
	}
	k.put(dir, fakeFiles[""])
	k.put(dir, map[string]string{"cgroup.controllers": strings.Join(enabled, " ")})
	return nil
}

func (k *fakeKernel) rmdir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	for _, e := range entries {
		if e.IsDir() || len(strings.TrimSpace(string(procs))) > 0 {
			return &fs.PathError{Op: "rmdir", Path: dir, Err: unix.EBUSY}
		}
	}
	return os.RemoveAll(dir)
}

// settle rewrites every cgroup.subtree_control as the kernel shows it:
// "+cpu +memory" written reads back "cpu memory".
func (k *fakeKernel) settle() {
	filepath.WalkDir(k.root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "cgroup.subtree_control" {
			b, _ := os.ReadFile(p)
			os.WriteFile(p, []byte(strings.ReplaceAll(string(b), "+", "")), 0o644)
		}
		return nil
	})
}

// manager returns a Manager for c on the fake tree. The caller's own cgroup
// is self (/proc/self/cgroup text).
func (k *fakeKernel) manager(c Config, self string) *Manager {
	k.t.Helper()
	c.Root, c.Mode = k.root, Unified
	if k.v1 {
		c.Mode = Hybrid
	}
	m, err := newManager(c, reader(self))
	if err != nil {
		k.t.Fatal(err)
	}
	m.mkdir, m.rmdir, m.wait = k.mkdir, k.rmdir, 2*time.Second
	return m
}

// logLines is a slog.Handler that keeps each message, so tests can check
// the Debug lines word for word.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Enabled(context.Context, slog.Level) bool { return true }
func (l *logLines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, r.Message)
	return nil
}
func (l *logLines) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logLines) WithGroup(string) slog.Handler      { return l }

// writes returns the "write ..." lines.
func (l *logLines) writes() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, s := range l.lines {
		if strings.HasPrefix(s, "write ") {
			out = append(out, s)
		}
	}
	return out
}
