package test

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minirun/minirun/internal/testenv"
)

// Tests of --explain and --timing: what minirun says it did must be what
// the kernel shows. Each compares the explained steps with a view from
// elsewhere: the container's /proc/self/mountinfo, the cgroup files read
// from the host, the namespace inodes in /proc/PID/ns.

// step is one line of --explain=json.
type step struct {
	Phase  string         `json:"phase"`
	Text   string         `json:"text"`
	Man    string         `json:"man"`
	Fields map[string]any `json:"fields"`
}

func (s step) field(k string) string {
	switch v := s.Fields[k].(type) {
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

// parseSteps reads the JSON steps among text's lines; other lines (the
// --timing table) are returned apart.
func parseSteps(t *testing.T, text string) (steps []step, other []string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		var s step
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &s) == nil && s.Phase != "" {
			steps = append(steps, s)
		} else if line != "" {
			other = append(other, line)
		}
	}
	return steps, other
}

// mountinfoEntry is one line of /proc/PID/mountinfo (proc(5)).
type mountinfoEntry struct {
	target, fstype string
	opts           map[string]bool // per-mount options: ro/rw, nosuid, nodev, noexec, ...
}

func parseMountinfo(t *testing.T, text string) []mountinfoEntry {
	t.Helper()
	var out []mountinfoEntry
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 6 || len(g) < 1 {
			t.Fatalf("mountinfo line %q", line)
		}
		e := mountinfoEntry{target: unescapeOctal(f[4]), fstype: g[0], opts: map[string]bool{}}
		for _, o := range strings.Split(f[5], ",") {
			e.opts[o] = true
		}
		out = append(out, e)
	}
	return out
}

// unescapeOctal undoes mountinfo's \040-style escapes.
func unescapeOctal(s string) string {
	return regexp.MustCompile(`\\[0-7]{3}`).ReplaceAllStringFunc(s, func(m string) string {
		n, _ := strconv.ParseUint(m[1:], 8, 8)
		return string(rune(n))
	})
}

// resourceFlags are the run flags whose cgroup writes the tests check.
var resourceFlags = []string{"-m", "64m", "--cpu-shares", "512", "--pids-limit", "50"}

func TestExplainMounts(t *testing.T) {
	testenv.RequireRoot(t)
	e := newCtrEnv(t)
	args := append([]string{"run", "--rm", "--network", "none", "--explain=json", "--timing"}, resourceFlags...)
	r := e.must(append(args, e.ref, "cat", "/proc/self/mountinfo")...)
	steps, other := parseSteps(t, r.stderr)
	if len(steps) == 0 {
		t.Fatalf("no explained steps on stderr:\n%s", r.stderr)
	}
	if s, _ := parseSteps(t, r.stdout); len(s) > 0 {
		t.Errorf("explained steps reached the container's output:\n%s", r.stdout)
	}
	mi := parseMountinfo(t, r.stdout)

	// The last explained mount(2) at each target is the one the kernel
	// shows: a remount replaces the flags of the mount before it.
	explained := map[string]step{}
	var order []string
	for _, s := range steps {
		if s.Phase != "rootfs" || s.field("op") != "mount" {
			continue
		}
		target := s.field("target")
		if _, ok := explained[target]; !ok {
			order = append(order, target)
		}
		explained[target] = s
	}
	// ... and the top mount at a mount point is the one its mountinfo
	// line shows last.
	shown := map[string]mountinfoEntry{}
	for _, m := range mi {
		shown[m.target] = m
	}
	for _, target := range order {
		s := explained[target]
		m, ok := shown[target]
		if !ok {
			t.Errorf("explained mount on %s is not in the container's mountinfo: %s", target, s.Text)
			continue
		}
		if fs := s.field("fstype"); fs != "" && fs != m.fstype {
			t.Errorf("%s: explained fstype %s, mountinfo says %s", target, fs, m.fstype)
		}
		flags := s.field("flags")
		if strings.Contains(flags, "MS_BIND") && !strings.Contains(flags, "MS_REMOUNT") {
			// A new bind mount takes the per-mount flags of its
			// source: the kernel ignores all others on that call.
			continue
		}
		for _, f := range []struct{ ms, opt string }{
			{"MS_RDONLY", "ro"}, {"MS_NOSUID", "nosuid"}, {"MS_NODEV", "nodev"}, {"MS_NOEXEC", "noexec"},
		} {
			want, got := strings.Contains(flags, f.ms), m.opts[f.opt]
			if s.field("keep") == "true" {
				// A remount that adds to the flags the mount has
				// (statfs(2)): only those it names are sure.
				if want && !got {
					t.Errorf("%s: explained %s, mountinfo options %v", target, f.ms, m.opts)
				}
				continue
			}
			if want != got {
				t.Errorf("%s: explained flags %s, but mountinfo's options %v disagree on %s", target, flags, m.opts, f.opt)
			}
		}
	}
	// Every mount the container has was explained. After pivot_root and
	// the detach of the old root, nothing else is in the namespace: the
	// kernel adds no mount of its own to a new mount namespace beyond the
	// copies of the parent's, and those left with the old root.
	for _, m := range mi {
		if _, ok := explained[m.target]; !ok {
			t.Errorf("mount on %s (%s) is in the container's mountinfo but was not explained", m.target, m.fstype)
		}
	}

	// --timing names every phase, in a table after the steps.
	table := strings.Join(other, "\n")
	for _, p := range []string{"resolve", "pull", "unpack", "rootfs", "cgroup", "clone", "network", "pivot_root", "exec", "teardown"} {
		if !regexp.MustCompile(`(?m)^` + p + `\s+\d`).MatchString(table) {
			t.Errorf("--timing has no line for phase %s:\n%s", p, table)
		}
	}
}

func TestExplainCgroupAndNamespaces(t *testing.T) {
	testenv.RequireRoot(t)
	e := newCtrEnv(t)
	file := filepath.Join(t.TempDir(), "explain.json")
	args := append([]string{"--root", rootFor(t), "--store", e.store, "run", "--rm", "--network", "none",
		"--explain=json", "--explain-file", file}, resourceFlags...)
	cmd := exec.Command(runtimePath, append(args, e.ref, "sleep", "3")...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := startCmd(cmd); err != nil {
		t.Fatal(err)
	}
	waited := false
	defer func() {
		if !waited {
			cmd.Process.Signal(syscall.SIGKILL)
			waitCmd(cmd)
		}
	}()

	// The last step before the user's process runs: exec.fifo read EOF.
	var steps []step
	if !poll(20*time.Second, func() bool {
		data, _ := os.ReadFile(file)
		steps, _ = parseSteps(t, string(data))
		return slices.ContainsFunc(steps, func(s step) bool { return s.Phase == "exec" && strings.HasPrefix(s.Text, "open(") })
	}) {
		t.Fatalf("no exec step in %s; have %d steps; stderr: %s", file, len(steps), stderr.String())
	}

	// Each explained cgroup write is what the file holds now.
	checked := 0
	for _, s := range steps {
		if s.Phase != "cgroup" || s.field("op") != "write" {
			continue
		}
		path, value := s.field("file"), s.field("value")
		switch filepath.Base(path) {
		case "tasks", "cgroup.procs", "cgroup.threads":
			// Membership: the file lists pids, it does not echo a write.
			continue
		case "devices.allow", "devices.deny":
			// v1 device rules are read back merged, from devices.list.
			continue
		case "cgroup.subtree_control":
			// "+memory +pids" reads back as "memory pids", among the
			// controllers enabled before.
			data, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("%s: %v", s.Text, err)
				continue
			}
			for _, c := range strings.Fields(value) {
				if !slices.Contains(strings.Fields(string(data)), strings.TrimPrefix(c, "+")) {
					t.Errorf("%s: %s holds %q", s.Text, path, strings.TrimSpace(string(data)))
				}
			}
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v", s.Text, err)
			continue
		}
		got := strings.TrimSpace(string(data))
		if got != value && !(value == "-1" && got == "9223372036854771712") { // v1 reads "unlimited" back as PAGE_COUNTER_MAX pages
			t.Errorf("%s: %s holds %q", s.Text, path, got)
		}
		checked++
	}
	if checked < 3 {
		t.Errorf("only %d cgroup writes checked; steps:\n%v", checked, steps)
	}
	for _, want := range []string{"linux.resources.memory.limit", "linux.resources.cpu.shares", "linux.resources.pids.limit"} {
		if !slices.ContainsFunc(steps, func(s step) bool { return strings.Contains(s.field("from"), want) }) {
			t.Errorf("no cgroup write explained as coming from %s", want)
		}
	}

	// The explained namespaces are the container's.
	pid := 0
	for _, s := range steps {
		if s.field("op") == "clone" {
			pid, _ = strconv.Atoi(s.field("pid"))
		}
	}
	if pid == 0 {
		t.Fatal("no clone step with a pid")
	}
	nsChecked := 0
	for _, s := range steps {
		// clone's, and unshare(CLONE_NEWCGROUP)'s where init makes its
		// cgroup namespace itself.
		ns, ok := s.Fields["ns"].(map[string]any)
		if !ok {
			continue
		}
		for name, v := range ns {
			var st syscall.Stat_t
			p := "/proc/" + strconv.Itoa(pid) + "/ns/" + name
			if err := syscall.Stat(p, &st); err != nil {
				t.Errorf("%s: %v", p, err)
				continue
			}
			if float64(st.Ino) != v.(float64) {
				t.Errorf("%s: explained inode %v, the container's is %d", name, v, st.Ino)
			}
			nsChecked++
		}
	}
	if nsChecked < 5 {
		t.Errorf("only %d namespaces checked (want mnt, pid, uts, ipc, net and cgroup)", nsChecked)
	}

	waited = true
	if err := waitCmd(cmd); err != nil {
		t.Errorf("run: %v: %s", err, stderr.String())
	}
	if s, _ := parseSteps(t, stderr.String()); len(s) > 0 {
		t.Errorf("with --explain-file, %d steps still went to stderr", len(s))
	}
}

// TestExplainText checks the form a person reads: one line per step,
// each naming where to read about it.
func TestExplainText(t *testing.T) {
	testenv.RequireRoot(t)
	e := newCtrEnv(t)
	r := e.must("run", "--rm", "--network", "none", "--explain", e.ref, "echo", "clean")
	if r.stdout != "clean\n" {
		t.Errorf("container output %q, want only %q", r.stdout, "clean\n")
	}
	man := regexp.MustCompile(`^\[[a-z_]+\] +.+ — .*(\([1-8]\)|Documentation/|OCI )`)
	sc := bufio.NewScanner(strings.NewReader(r.stderr))
	n := 0
	for sc.Scan() {
		if !man.MatchString(sc.Text()) {
			t.Errorf("line names no man page or document: %q", sc.Text())
		}
		n++
	}
	if n < 20 {
		t.Errorf("only %d explained lines:\n%s", n, r.stderr)
	}
}

// TestExplainPull checks the image side: each layer unpacked is explained
// with its digest, size and whiteouts.
func TestExplainPull(t *testing.T) {
	testenv.RequireRoot(t)
	e := newCtrEnv(t)
	store := t.TempDir()
	r := imageRT(t, store, "pull", "-q", "--explain=json", e.ref)
	if r.code != 0 {
		t.Fatalf("pull: %v", r)
	}
	steps, _ := parseSteps(t, r.stderr)
	var unpacked, manifests int
	for _, s := range steps {
		switch s.field("op") {
		case "unpack":
			unpacked++
			if !strings.HasPrefix(s.field("digest"), "sha256:") || s.field("size") == "" || s.field("whiteouts") == "" {
				t.Errorf("unpack step without digest, size or whiteouts: %+v", s)
			}
		case "manifest":
			manifests++
		}
	}
	if unpacked == 0 || manifests != 1 {
		t.Errorf("%d unpack and %d manifest steps; stderr:\n%s", unpacked, manifests, r.stderr)
	}
	imageRT(t, store, "rmi", e.ref)
}
