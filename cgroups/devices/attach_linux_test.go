package devices

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/testenv"
)

// probeEnv, when set, makes the test binary a probe instead: it names the
// directory in which the probe may create device nodes.
const probeEnv = "MINIRUN_DEVICES_PROBE_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(probeEnv); dir != "" {
		os.Exit(probeMain(dir))
	}
	os.Exit(m.Run())
}

// A probe is one device access the child attempts, and what it asks the
// kernel's device check for.
type probe struct {
	name         string
	typ          rune
	major, minor int64
	access       string
	do           func(dir string) error
}

func openDev(path string, flags int) func(string) error {
	return func(string) error {
		fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
		}
		return err
	}
}

func mknod(mode uint32, major, minor uint32) func(string) error {
	return func(dir string) error {
		path := filepath.Join(dir, fmt.Sprintf("node-%d-%d-%d", mode, major, minor))
		err := unix.Mknod(path, mode|0o600, int(unix.Mkdev(major, minor)))
		if err == nil {
			err = os.Remove(path)
		}
		return err
	}
}

var probes = []probe{
	{"open /dev/null rw", 'c', 1, 3, "rw", openDev("/dev/null", unix.O_RDWR)},
	{"open /dev/null r", 'c', 1, 3, "r", openDev("/dev/null", unix.O_RDONLY)},
	{"open /dev/zero r", 'c', 1, 5, "r", openDev("/dev/zero", unix.O_RDONLY)},
	{"open /dev/full w", 'c', 1, 7, "w", openDev("/dev/full", unix.O_WRONLY)},
	{"mknod c 1:3", 'c', 1, 3, "m", mknod(unix.S_IFCHR, 1, 3)},
	{"mknod b 7:0", 'b', 7, 0, "m", mknod(unix.S_IFBLK, 7, 0)},
}

// probeMain is the child: it waits until the parent has moved it into the
// cgroup under test (the parent closes fd 3 then), tries every probe and
// prints the errno of each as JSON, 0 for success.
func probeMain(dir string) int {
	ready := os.NewFile(3, "ready")
	if _, err := ready.Read(make([]byte, 1)); err != nil {
		fmt.Fprintln(os.Stderr, "probe: wait for the parent:", err)
		return 2
	}
	results := make(map[string]int)
	for _, p := range probes {
		err := p.do(dir)
		var errno unix.Errno
		switch {
		case err == nil:
			results[p.name] = 0
		case errors.As(err, &errno):
			results[p.name] = int(errno)
		default:
			fmt.Fprintf(os.Stderr, "probe %s: %v\n", p.name, err)
			return 2
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		return 2
	}
	return 0
}

// observe runs the probes in a child placed in cgroup cg before it
// attempts anything, and returns each probe's errno.
func observe(t *testing.T, cg string) map[string]unix.Errno {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), probeEnv+"="+t.TempDir())
	cmd.ExtraFiles = []*os.File{r}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Start()
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	waited := false
	defer func() {
		if !waited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
		t.Fatalf("move probe into %s: %v", cg, err)
	}
	if _, err := w.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	err = cmd.Wait()
	timer.Stop()
	waited = true
	if err != nil {
		t.Fatalf("probe: %v\n%s", err, stderr.Bytes())
	}
	var results map[string]int
	if err := json.Unmarshal(stdout.Bytes(), &results); err != nil {
		t.Fatalf("probe output %q: %v", stdout.Bytes(), err)
	}
	out := make(map[string]unix.Errno, len(results))
	for name, errno := range results {
		out[name] = unix.Errno(errno)
	}
	return out
}

// checkProbes compares what the probe saw in cg with what decide says of
// rules: success where allowed, EPERM where denied.
func checkProbes(t *testing.T, cg string, rules []specs.LinuxDeviceCgroup) {
	t.Helper()
	got := observe(t, cg)
	for _, p := range probes {
		want := unix.EPERM
		if decide(rules, p.typ, p.major, p.minor, p.access) {
			want = 0
		}
		if got[p.name] != want {
			t.Errorf("rules %q: %s: %s, want %s", Describe(rules), p.name, outcome(got[p.name]), outcome(want))
		}
	}
}

func outcome(errno unix.Errno) string {
	if errno == 0 {
		return "success"
	}
	return fmt.Sprintf("%s (%s)", unix.ErrnoName(errno), errno)
}

// selfCgroup2 returns the cgroup v2 path of the process from the contents
// of /proc/self/cgroup: the "0::" line.
func selfCgroup2(procSelfCgroup string) (string, bool) {
	for line := range strings.Lines(procSelfCgroup) {
		if path, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
			return path, true
		}
	}
	return "", false
}

func TestSelfCgroup2(t *testing.T) {
	tests := []struct{ text, want string }{
		// This project's hybrid host.
		{"9:name=systemd:/\n5:devices:/\n4:memory:/process_api/fb1e\n0::/\n", "/"},
		// A pure v2 host, in a systemd unit.
		{"0::/system.slice/ssh.service\n", "/system.slice/ssh.service"},
	}
	for _, tt := range tests {
		if got, ok := selfCgroup2(tt.text); !ok || got != tt.want {
			t.Errorf("selfCgroup2(%q) = %q, %v; want %q", tt.text, got, ok, tt.want)
		}
	}
	if _, ok := selfCgroup2("4:memory:/\n1:cpu:/\n"); ok {
		t.Error("selfCgroup2 found a v2 path on a v1-only host")
	}
}

// requireDeviceBPF skips (or fails, see testenv) unless this process may
// load cgroup device programs and has a cgroup v2 directory to make test
// cgroups in; it returns that directory: the process's own v2 cgroup.
func requireDeviceBPF(t *testing.T) string {
	t.Helper()
	testenv.RequireRoot(t)
	mount := ""
	for _, dir := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st unix.Statfs_t
		if unix.Statfs(dir, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			mount = dir
			break
		}
	}
	if mount == "" {
		testenv.SkipOrFail(t, "no cgroup2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified")
	}
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	self, ok := selfCgroup2(string(data))
	if !ok {
		testenv.SkipOrFail(t, "this process has no cgroup v2 path in /proc/self/cgroup")
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.CGroupDevice,
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 1), asm.Return()},
	})
	if err != nil {
		testenv.SkipOrFail(t, fmt.Sprintf("cannot load a cgroup device program: %v", err))
	}
	prog.Close()
	return filepath.Join(mount, self)
}

// newCgroup makes a cgroup below parent that the test removes at its end,
// after the processes in it are gone.
func newCgroup(t *testing.T, parent string) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	dir := filepath.Join(parent, "minirun-devtest-"+hex.EncodeToString(b))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The probes have been waited for, but the kernel may take a
		// moment to see the cgroup as empty.
		var err error
		for range 100 {
			if err = unix.Rmdir(dir); err == nil || errors.Is(err, unix.ENOENT) {
				return
			}
			if !errors.Is(err, unix.EBUSY) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Errorf("remove cgroup %s: %v", dir, err)
	})
	return dir
}

// attached returns the names of the device programs attached directly
// to dir, by anyone, with their IDs.
func attached(t *testing.T, dir string) (names []string, ids []ebpf.ProgramID) {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := link.QueryPrograms(link.QueryOptions{Target: int(f.Fd()), Attach: ebpf.AttachCGroupDevice})
	if err != nil {
		t.Fatal(err)
	}
	for _, ap := range res.Programs {
		p, err := ebpf.NewProgramFromID(ap.ID)
		if err != nil {
			t.Fatal(err)
		}
		info, err := p.Info()
		p.Close()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, info.Name)
		ids = append(ids, ap.ID)
	}
	return names, ids
}

func TestAttachEnforcesRules(t *testing.T) {
	parent := requireDeviceBPF(t)
	tests := []struct {
		name  string
		rules []specs.LinuxDeviceCgroup
	}{
		{"deny all, allow null rw", rules(denyAll, dev("allow", "c", 1, 3, "rw"))},
		{"allow all", rules(allowAll)},
		{"deny all, allow mknod of char devices", rules(denyAll, dev("allow", "c", star, star, "m"))},
		{"later deny overrides earlier allow", rules(allowAll, dev("deny", "c", 1, 3, "w"), dev("deny", "b", star, star, "rwm"))},
		{"later allow overrides earlier deny", rules(dev("deny", "c", 1, star, "rwm"), dev("allow", "c", 1, 3, "r"), dev("allow", "c", 1, 7, "w"))},
		{"hole in a wildcard deny", rules(allowAll, dev("deny", "c", star, star, "rwm"), dev("allow", "c", 1, 3, "r"))},
		{"read and write from two rules", rules(dev("allow", "c", 1, 3, "r"), dev("allow", "c", 1, 3, "w"))},
		{"deny all and the defaults", append(rules(denyAll), DefaultAllow...)},
		{"no rules", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cg := newCgroup(t, parent)
			if err := Attach(cg, tt.rules); err != nil {
				t.Fatal(err)
			}
			checkProbes(t, cg, tt.rules)
		})
	}
}

// TestAttachReplaces: a second Attach replaces minirun's program rather
// than adding a second one, leaves other programs alone, and Detach
// removes only minirun's.
func TestAttachReplaces(t *testing.T) {
	parent := requireDeviceBPF(t)
	cg := newCgroup(t, parent)

	// Someone else's program (allow all), which must survive.
	foreign, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "foreign_test",
		Type:         ebpf.CGroupDevice,
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 1), asm.Return()},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer foreign.Close()
	dir, err := os.Open(cg)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	if err := link.RawAttachProgram(link.RawAttachProgramOptions{
		Target: int(dir.Fd()), Program: foreign, Attach: ebpf.AttachCGroupDevice, Flags: unix.BPF_F_ALLOW_MULTI,
	}); err != nil {
		t.Fatal(err)
	}

	first := rules(denyAll, dev("allow", "c", 1, 3, "rw"))
	second := rules(denyAll, dev("allow", "c", 1, 5, "r"), dev("allow", "c", star, star, "m"))
	if err := Attach(cg, first); err != nil {
		t.Fatal(err)
	}
	names1, ids1 := attached(t, cg)
	checkProbes(t, cg, first)
	if err := Attach(cg, second); err != nil {
		t.Fatal(err)
	}
	names2, ids2 := attached(t, cg)
	slices.Sort(names1)
	slices.Sort(names2)
	if want := []string{"foreign_test", progName}; !slices.Equal(names1, want) || !slices.Equal(names2, want) {
		t.Fatalf("programs after one Attach: %q, after two: %q; want %q both times", names1, names2, want)
	}
	if slices.Equal(ids1, ids2) {
		t.Errorf("the second Attach left program IDs %v unchanged", ids1)
	}
	checkProbes(t, cg, second)

	if err := Detach(cg); err != nil {
		t.Fatal(err)
	}
	if names, _ := attached(t, cg); !slices.Equal(names, []string{"foreign_test"}) {
		t.Errorf("programs after Detach: %q, want only foreign_test", names)
	}
	checkProbes(t, cg, rules(allowAll))
	if err := detach(dir, foreign); err != nil {
		t.Fatal(err)
	}
}

// TestAttachWithoutReplace takes the path of kernels before 5.6 (no
// BPF_F_REPLACE): attach the new program, then detach the old.
func TestAttachWithoutReplace(t *testing.T) {
	parent := requireDeviceBPF(t)
	cg := newCgroup(t, parent)
	if err := Attach(cg, rules(allowAll)); err != nil {
		t.Fatal(err)
	}
	second := rules(denyAll, dev("allow", "c", 1, 3, "r"))
	insns, _, err := Program(second)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := load(insns)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	dir, err := os.Open(cg)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	old, err := ours(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(old)
	if len(old) != 1 {
		t.Fatalf("%d programs of ours after one Attach, want 1", len(old))
	}
	if err := attach(dir, prog, old, false); err != nil {
		t.Fatal(err)
	}
	if names, _ := attached(t, cg); !slices.Equal(names, []string{progName}) {
		t.Errorf("programs: %q, want one %s", names, progName)
	}
	checkProbes(t, cg, second)
}

// TestChildCgroupCannotWiden: the programs of a cgroup's ancestors run
// too (BPF_F_ALLOW_MULTI), so allowing everything in a cgroup below the
// container's changes nothing.
func TestChildCgroupCannotWiden(t *testing.T) {
	parent := requireDeviceBPF(t)
	outer := newCgroup(t, parent)
	inner := newCgroup(t, outer)
	restricted := rules(denyAll, dev("allow", "c", 1, 5, "r"))
	if err := Attach(outer, restricted); err != nil {
		t.Fatal(err)
	}
	if err := Attach(inner, rules(allowAll)); err != nil {
		t.Fatal(err)
	}
	checkProbes(t, inner, restricted)
}

func TestAttachRefusesNonCgroup2(t *testing.T) {
	err := Attach(t.TempDir(), DefaultAllow)
	if err == nil || !strings.Contains(err.Error(), "not a cgroup v2 directory") {
		t.Errorf("Attach on a plain directory: %v, want not a cgroup v2 directory", err)
	}
	if err := Attach("/nonexistent/minirun", DefaultAllow); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Attach on a missing directory: %v, want ErrNotExist", err)
	}
	if err := Attach(t.TempDir(), rules(dev("allow", "u", 1, 3, "rwm"))); err == nil || !strings.Contains(err.Error(), "device rule 0") {
		t.Errorf("Attach with a bad rule: %v, want the rule's error", err)
	}
}
