package test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minirun/minirun/internal/testenv"
)

// rtTimeout bounds every runtime call, so a runtime that hangs fails the
// test instead of the whole run.
const rtTimeout = 30 * time.Second

// After maxTimeouts calls that hung, the runtime is taken to be broken and
// further calls fail at once, so the run ends in minutes, not hours.
const maxTimeouts = 3

var timeouts atomic.Int64

// result is one runtime invocation.
type result struct {
	args           []string
	stdout, stderr string
	code           int // -1: killed or not started
	err            error
}

func (r result) String() string {
	s := fmt.Sprintf("%s: exit %d", strings.Join(r.args, " "), r.code)
	if r.err != nil {
		s += fmt.Sprintf(" (%v)", r.err)
	}
	if r.stdout != "" {
		s += "\nstdout: " + strings.TrimSpace(r.stdout)
	}
	return s + "\nstderr: " + strings.TrimSpace(r.stderr)
}

// rtOpts overrides a runtime call's stdio (nil: /dev/null in, captured out)
// and timeout.
type rtOpts struct {
	stdin, stdout, stderr *os.File
	extra                 []*os.File // fds 3, 4, ... of the runtime
	timeout               time.Duration
}

// rt runs the runtime with the test's own --root and returns what it said.
func rt(t *testing.T, args ...string) result {
	t.Helper()
	return rtWith(t, rtOpts{}, args...)
}

func rtWith(t *testing.T, o rtOpts, args ...string) result {
	t.Helper()
	if len(args) >= 2 && args[0] == "--store" {
		watchStore(t, args[1])
	}
	full := append([]string{"--root", rootFor(t)}, args...)
	r := result{args: append([]string{filepath.Base(runtimePath)}, full...), code: -1}
	if n := timeouts.Load(); n >= maxTimeouts {
		r.err = fmt.Errorf("not run: the runtime already timed out %d times in this run", n)
		return r
	}
	timeout := o.timeout
	if timeout == 0 {
		timeout = rtTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, runtimePath, full...)
	// Its own process group, so a timeout kills the runtime's helpers too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	// Output goes to files, never pipes: a container inherits create's
	// stdout and stderr, and a pipe would keep Wait waiting on it.
	var outPath, errPath string
	cmd.ExtraFiles = o.extra
	if o.stdin != nil { // a nil *os.File in an io.Reader is no nil Reader
		cmd.Stdin = o.stdin
	}
	if o.stdout != nil {
		cmd.Stdout = o.stdout
	} else {
		f, path := outFile(t, "stdout")
		defer f.Close()
		cmd.Stdout, outPath = f, path
	}
	if o.stderr != nil {
		cmd.Stderr = o.stderr
	} else {
		f, path := outFile(t, "stderr")
		defer f.Close()
		cmd.Stderr, errPath = f, path
	}
	if err := startCmd(cmd); err != nil {
		r.err = err
		return r
	}
	err := waitCmd(cmd)
	if outPath != "" {
		b, _ := os.ReadFile(outPath)
		r.stdout = string(b)
	}
	if errPath != "" {
		b, _ := os.ReadFile(errPath)
		r.stderr = string(b)
	}
	r.code = cmd.ProcessState.ExitCode()
	switch {
	case ctx.Err() != nil:
		timeouts.Add(1)
		r.err = fmt.Errorf("timed out after %v", timeout)
		r.code = -1
	case err != nil && !errors.As(err, new(*exec.ExitError)):
		r.err = err
	}
	return r
}

var storesWatched = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

// watchStore checks, when the test that first used store ends, that the
// store has no lease left and that no veth, bridge of a named network or
// container rule appeared in the suite's namespace during the test. The
// check is registered at the store's first use, the pull of newCtrEnv, so
// it runs after the containers were removed (cleanups run last-in
// first-out) and before the store's temp dir goes; it waits a moment for
// a --rm container's monitor to finish.
func watchStore(t *testing.T, store string) {
	if !inSuiteNetns {
		return
	}
	storesWatched.Lock()
	seen := storesWatched.m[store]
	storesWatched.m[store] = true
	storesWatched.Unlock()
	if seen {
		return
	}
	links0, rules0, _ := netLeftovers()
	t.Cleanup(func() {
		var left []string
		poll(5*time.Second, func() bool {
			left = nil
			left = newNetLeftovers(store, links0, rules0)
			return len(left) == 0
		})
		for _, l := range left {
			t.Errorf("network leftover at the end of the test: %s", l)
			noteLeak(l + " (left by " + t.Name() + ")")
		}
	})
}

// mustRT runs the runtime and fails the test unless it exits 0.
func mustRT(t *testing.T, args ...string) result {
	t.Helper()
	r := rt(t, args...)
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	return r
}

var outSeq atomic.Int64

func outFile(t *testing.T, name string) (*os.File, string) {
	t.Helper()
	path := filepath.Join(testDir(t), fmt.Sprintf("%s-%d", name, outSeq.Add(1)))
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("create %s: %v", path, err)
	}
	return f, path
}

// perTest maps a test's name to its scratch dir and --root.
var perTest = struct {
	sync.Mutex
	m map[string]*testState
}{m: map[string]*testState{}}

type testState struct {
	dir, root string
}

var rootSeq atomic.Int64

// stateFor gives each test a scratch dir and its own runtime --root; a
// subtest shares its parent's when the parent has one (it may act on the
// parent's containers). The root lives under the suite dir, not t.TempDir,
// so that TestMain still sees what a test left there; its cleanup runs after
// the containers' (cleanups run last-in first-out) and reports leftovers.
func stateFor(t *testing.T) *testState {
	t.Helper()
	testenv.RequireRoot(t)
	perTest.Lock()
	for name := t.Name(); ; {
		if s, ok := perTest.m[name]; ok {
			perTest.Unlock()
			return s
		}
		i := strings.LastIndexByte(name, '/')
		if i < 0 {
			break
		}
		name = name[:i]
	}
	perTest.Unlock()
	name := regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-")
	s := &testState{
		dir:  t.TempDir(),
		root: filepath.Join(suiteDir, "roots", fmt.Sprintf("%s-%d", name, rootSeq.Add(1))),
	}
	if err := os.MkdirAll(s.root, 0o700); err != nil {
		t.Fatal(err)
	}
	perTest.Lock()
	perTest.m[t.Name()] = s
	perTest.Unlock()
	t.Cleanup(func() {
		perTest.Lock()
		delete(perTest.m, t.Name())
		perTest.Unlock()
		if left := stateDirs(s.root); len(left) > 0 {
			t.Errorf("runtime left state under --root %s: %v", s.root, left)
		}
	})
	return s
}

func rootFor(t *testing.T) string { return stateFor(t).root }
func testDir(t *testing.T) string { return stateFor(t).dir }

// --- bundles ---------------------------------------------------------------

var defaultSpec struct {
	once sync.Once
	json []byte
	res  result
}

// runtimeDefaultSpec is what `RUNTIME spec` writes, generated once.
func runtimeDefaultSpec(t *testing.T) *specs.Spec {
	t.Helper()
	defaultSpec.once.Do(func() {
		dir := t.TempDir()
		defaultSpec.res = rt(t, "spec", "--bundle", dir)
		defaultSpec.json, _ = os.ReadFile(filepath.Join(dir, "config.json"))
	})
	var s specs.Spec
	if err := json.Unmarshal(defaultSpec.json, &s); err != nil || s.Process == nil || s.Root == nil || s.Linux == nil {
		t.Fatalf("no usable default spec (%v) from %v", err, defaultSpec.res)
	}
	return &s
}

// newBundle writes a bundle starting from the runtime's default spec: the
// shared rootfs, no terminal, /probe as the process, then mutate.
func newBundle(t *testing.T, mutate func(*specs.Spec)) string {
	t.Helper()
	s := runtimeDefaultSpec(t)
	s.Process.Terminal = false
	s.Process.Args = []string{"/probe"}
	s.Root.Path = rootfsPath
	if mutate != nil {
		mutate(s)
	}
	dir := filepath.Join(testDir(t), fmt.Sprintf("bundle-%d", outSeq.Add(1)))
	b, err := json.MarshalIndent(s, "", "\t")
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)
	}
	if err != nil {
		t.Fatalf("write bundle: %v", err)
	}
	return dir
}

// readSpec loads a bundle's config.json back.
func readSpec(t *testing.T, bundle string) *specs.Spec {
	t.Helper()
	var s specs.Spec
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err == nil {
		err = json.Unmarshal(b, &s)
	}
	if err != nil {
		t.Fatalf("read spec: %v", err)
	}
	return &s
}

// --- containers ------------------------------------------------------------

var idSeq atomic.Int64

// newID returns a container ID unique in the run and makes sure the test
// deletes that container whatever happens.
func newID(t *testing.T) string {
	t.Helper()
	name := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-"))
	if len(name) > 32 {
		name = name[len(name)-32:]
	}
	id := fmt.Sprintf("c%d-%s", idSeq.Add(1), strings.Trim(name, "-"))
	rootFor(t) // the root's leak check must be registered before this cleanup
	t.Cleanup(func() { forceDelete(t, id) })
	return id
}

func forceDelete(t *testing.T, id string) {
	if r := rt(t, "delete", "--force", id); r.code != 0 && !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("cleanup: %v", r)
	}
}

// ctr is a container made by create.
type ctr struct {
	id, bundle string
	stdout     string // the file that received create's (and so the container's) stdout
}

// create runs `create [extra...] --bundle B ID` with stdout and stderr in
// files (the container inherits them) and fails the test on error.
func create(t *testing.T, bundle string, extra ...string) *ctr {
	t.Helper()
	c := &ctr{id: newID(t), bundle: bundle}
	out, path := outFile(t, "container-stdout")
	defer out.Close()
	c.stdout = path
	args := append(append([]string{"create"}, extra...), "--bundle", bundle, c.id)
	if r := rtWith(t, rtOpts{stdout: out}, args...); r.code != 0 {
		t.Fatalf("%v", r)
	}
	recordPid(state(t, c.id).Pid)
	return c
}

// startProbe creates and starts a container running /probe -sleep 60s and
// returns it with the report its init printed.
func startProbe(t *testing.T, mutate func(*specs.Spec)) (*ctr, probeReport) {
	t.Helper()
	b := newBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"/probe", "-sleep", "60s"}
		if mutate != nil {
			mutate(s)
		}
	})
	c := create(t, b)
	mustRT(t, "start", c.id)
	return c, waitReport(t, c)
}

// waitReport waits for the first line the container wrote to stdout.
func waitReport(t *testing.T, c *ctr) probeReport {
	t.Helper()
	var b []byte
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, _ = os.ReadFile(c.stdout)
		if strings.Contains(string(b), "\n") {
			return parseReport(t, string(b))
		}
	}
	t.Fatalf("container %s printed no report in 10s; stdout so far: %q", c.id, b)
	return probeReport{}
}

// ociState is the state JSON of the runtime spec.
type ociState struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Status      string            `json:"status"`
	Pid         int               `json:"pid"`
	Bundle      string            `json:"bundle"`
	Annotations map[string]string `json:"annotations"`
	Exit        *exitState        `json:"exit"` // minirun's own: how init ended, once it has
}

type exitState struct {
	Code   int    `json:"code"`
	Signal string `json:"signal"`
}

func state(t *testing.T, id string) ociState {
	t.Helper()
	r := mustRT(t, "state", id)
	var s ociState
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("state %s: %v\n%v", id, err, r)
	}
	return s
}

// waitStatus polls state until the status is want.
func waitStatus(t *testing.T, id, want string) ociState {
	t.Helper()
	var s ociState
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if s = state(t, id); s.Status == want {
			return s
		}
	}
	t.Fatalf("container %s: status %q after 10s, want %q", id, s.Status, want)
	return s
}

// runProbe runs the bundle with `run` and parses the probe's report.
func runProbe(t *testing.T, bundle string) probeReport {
	t.Helper()
	r := rt(t, "run", "--bundle", bundle, newID(t))
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	return parseReport(t, r.stdout)
}

// newNetLeftovers lists the leases of store, and the veths and container
// rules that were not there before (links0, rules0 from netLeftovers).
func newNetLeftovers(store string, links0, rules0 []string) []string {
	var left []string
	for _, f := range leaseFiles(store) {
		left = append(left, "lease "+f)
	}
	links, rules, err := netLeftovers()
	if err != nil {
		left = append(left, "network check failed: "+err.Error())
	}
	for _, l := range links {
		if !slices.Contains(links0, l) {
			left = append(left, "link "+l)
		}
	}
	for _, r := range rules {
		if !slices.Contains(rules0, r) {
			left = append(left, "nftables rule, "+r)
		}
	}
	return left
}
