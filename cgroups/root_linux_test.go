package cgroups

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minirun/minirun/internal/testenv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Helpers for the tests that create real cgroups. They run as root on the
// host's own mode: the v1 fallback on a hybrid or v1 host, the v2 manager
// on a pure v2 host (the project's test VM). Every cgroup is named
// minirun-test-<random>; TestMain fails the run if one is left behind.

var (
	createdMu sync.Mutex
	created   []string
)

func TestMain(m *testing.M) {
	code := m.Run()
	createdMu.Lock()
	for _, dir := range created {
		if _, err := os.Stat(dir); err == nil {
			fmt.Fprintf(os.Stderr, "FAIL: cgroup %s left behind by a test; removing it\n", dir)
			rmdirTree(dir)
			code = 1
		}
	}
	createdMu.Unlock()
	os.Exit(code)
}

func rmdirTree(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			rmdirTree(filepath.Join(dir, e.Name()))
		}
	}
	unix.Rmdir(dir)
}

// hostMode returns the host's mode, for tests that need root.
func hostMode(t *testing.T) Mode {
	t.Helper()
	testenv.RequireRoot(t)
	mode, err := Detect(DefaultRoot)
	if err != nil {
		testenv.SkipOrFail(t, fmt.Sprintf("no cgroups here: %v", err))
	}
	return mode
}

// requireV2 skips unless the host is pure cgroup v2. It skips even when
// skipping is forbidden: a hybrid host has no v2 controllers to test, and
// the test VM runs these tests for real.
func requireV2(t *testing.T) {
	t.Helper()
	if mode := hostMode(t); mode != Unified {
		t.Skipf("host cgroup mode is %v; the v2 tests run in the cgroup v2 test VM", mode)
	}
}

// newRootManager makes a Manager for a fresh cgroup on the real host,
// named minirun-test-<random>: relative to this process's cgroup on v1,
// directly under the root on v2 (a relative path there could have a parent
// with processes of its own). It checks the controllers the tests need,
// creates the cgroup and registers Kill and Destroy as cleanup.
func newRootManager(t *testing.T, r *specs.LinuxResources) *Manager {
	t.Helper()
	mode := hostMode(t)
	c := Config{Path: testName(), Resources: r}
	if mode == Unified {
		c.Path = "/" + c.Path
		offered, err := readWords(filepath.Join(DefaultRoot, "cgroup.controllers"))
		if err != nil {
			t.Fatal(err)
		}
		for _, ctrl := range []string{"cpu", "memory", "pids"} {
			if !slices.Contains(offered, ctrl) {
				testenv.SkipOrFail(t, fmt.Sprintf("cgroup v2 root offers no %s controller (cgroup.controllers: %q)", ctrl, offered))
			}
		}
	}
	m, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if mode != Unified {
		for _, ctrl := range []string{"cpu", "cpuacct", "memory", "pids", "freezer"} {
			if _, ok := m.State().Dirs[ctrl]; !ok {
				testenv.SkipOrFail(t, fmt.Sprintf("cgroup v1 controller %s is not mounted", ctrl))
			}
		}
	}
	return createForTest(t, c)
}

func testName() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "minirun-test-" + hex.EncodeToString(b)
}

// createForTest makes the Manager, registers its directories with
// TestMain's leak check and its Kill and Destroy as cleanup, and creates
// the cgroup.
func createForTest(t *testing.T, c Config) *Manager {
	t.Helper()
	c.Log = testLog(t)
	m, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	createdMu.Lock()
	created = append(created, m.dirs()...)
	createdMu.Unlock()
	t.Cleanup(func() {
		if err := m.Kill(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if err := m.Destroy(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	t.Logf("mode %v, cgroups %v", m.State().Mode, m.State().Dirs)
	return m
}

// start runs a shell script in the container's cgroup. On v2 the process is
// born there (clone3 with CLONE_INTO_CGROUP, through UseCgroupFD); on v1 it
// waits on its stdin until Enter has moved it, as the runtime's init waits
// for the parent.
func start(t *testing.T, m *Manager, script string) *exec.Cmd {
	t.Helper()
	var cmd *exec.Cmd
	if dir := m.Dir(); dir != "" {
		fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(&os.PathError{Op: "open", Path: dir, Err: err})
		}
		defer unix.Close(fd)
		cmd = exec.Command("sh", "-c", script)
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
	} else {
		cmd = exec.Command("sh", "-c", "read _; "+script)
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if err := m.Enter(cmd.Process.Pid); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal(err)
		}
		in.Write([]byte("go\n"))
		in.Close()
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// file reads one of the container's cgroup files, named as on v2 and as on
// v1 ("memory/memory.limit_in_bytes").
func file(t *testing.T, m *Manager, v2, v1 string) string {
	t.Helper()
	path := filepath.Join(m.Dir(), v2)
	if m.Dir() == "" {
		ctrl, name, _ := strings.Cut(v1, "/")
		path = filepath.Join(m.State().Dirs[ctrl], name)
	}
	s, err := readString(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// cpuTicks returns utime+stime of a process, in clock ticks, and its state
// letter, from /proc/PID/stat.
func cpuTicks(t *testing.T, pid int) (uint64, byte) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseUint(f[11], 10, 64)
	stime, _ := strconv.ParseUint(f[12], 10, 64)
	return utime + stime, f[0][0]
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// testLog sends the manager's Debug lines to the test log.
func testLog(t *testing.T) *slog.Logger { return slog.New(testHandler{t}) }

type testHandler struct{ t *testing.T }

func (h testHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h testHandler) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool { msg += " " + a.String(); return true })
	h.t.Log(msg)
	return nil
}
func (h testHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h testHandler) WithGroup(string) slog.Handler      { return h }
