package seccomp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/testenv"
)

// A filter cannot be taken off again, so it is never installed in the test
// process: each case re-runs the test binary as a child that runs
// TestInstallChild alone, installs a filter there and reports what its
// system calls returned.
const childEnv = "MINIRUN_SECCOMP_TEST_CHILD"

// childReport is what the child saw, one errno (0: success) per probe.
type childReport struct {
	Getpid        int   // getpid() on the filtered thread
	GetpgidHigh   int   // getpgid(0x1_3fffffff)
	GetpgidLow    int   // getpgid(0x3fffffff): the same low half, no such process
	Getppid       int   // a call the profile does not name
	OtherThread   int   // getpid() on another thread
	Mode          int   // PR_GET_SECCOMP on the filtered thread
	CompileMicros int64 // compile of the podman profile ("timing")
	InstallMicros int64 // and its install
	Install2      int64 // a second install of the same program, warm
	Insns         int
}

// testProfile makes getpid fail with errno 42, and getpgid with 43 when its
// argument is 0x1_3fffffff: a pid_t is 32 bits to the kernel, but seccomp
// sees the whole 64-bit register, so the high half must take part.
func testProfile(tsync bool) *specs.LinuxSeccomp {
	p := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"getpid"}, Action: specs.ActErrno, ErrnoRet: errno(42)},
			{Names: []string{"getpgid"}, Action: specs.ActErrno, ErrnoRet: errno(43), Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 0x1_3fffffff, Op: specs.OpEqualTo},
			}},
		},
	}
	if tsync {
		p.Flags = []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC"}
	}
	return p
}

func errnoOf(e unix.Errno) int { return int(e) }

// highArg is getpgid's argument with the high half set; a 32-bit process
// passes its low half alone.
var highArg uint64 = 0x1_3fffffff

// TestInstallChild is the child's side; it does nothing in a normal run.
func TestInstallChild(t *testing.T) {
	mode := os.Getenv(childEnv)
	if mode == "" {
		t.Skip("runs only as the child of TestInstall")
	}
	// The filter goes on this thread; nothing else may run here.
	goruntime.LockOSThread()
	var rep childReport
	fail := func(err error) {
		os.Stdout.WriteString("ERROR " + err.Error() + "\n")
		os.Exit(3)
	}
	if mode != "root" {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			fail(err)
		}
	}
	if mode == "timing" {
		data, err := os.ReadFile("testdata/podman_amd64.json")
		if err != nil {
			fail(err)
		}
		var p specs.LinuxSeccomp
		if err := json.Unmarshal(data, &p); err != nil {
			fail(err)
		}
		start := time.Now()
		prog, err := Compile(&p)
		if err != nil {
			fail(err)
		}
		mid := time.Now()
		if err := prog.Install(); err != nil {
			fail(err)
		}
		rep.CompileMicros, rep.InstallMicros = mid.Sub(start).Microseconds(), time.Since(mid).Microseconds()
		start = time.Now()
		if err := prog.Install(); err != nil {
			fail(err)
		}
		rep.Install2 = time.Since(start).Microseconds()
		rep.Insns = prog.Len()
	} else {
		prog, err := Compile(testProfile(mode == "tsync"))
		if err != nil {
			fail(err)
		}
		if err := prog.Install(); err != nil {
			fail(err)
		}
		_, _, e := unix.RawSyscall(unix.SYS_GETPID, 0, 0, 0)
		rep.Getpid = errnoOf(e)
		_, _, e = unix.RawSyscall(unix.SYS_GETPGID, uintptr(highArg), 0, 0)
		rep.GetpgidHigh = errnoOf(e)
		_, _, e = unix.RawSyscall(unix.SYS_GETPGID, 0x3fffffff, 0, 0)
		rep.GetpgidLow = errnoOf(e)
		_, _, e = unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
		rep.Getppid = errnoOf(e)
		// This thread is locked to this goroutine, so another locked
		// goroutine runs on another thread.
		done := make(chan int)
		go func() {
			goruntime.LockOSThread()
			_, _, e := unix.RawSyscall(unix.SYS_GETPID, 0, 0, 0)
			done <- errnoOf(e)
		}()
		rep.OtherThread = <-done
	}
	m, err := seccompMode()
	if err != nil {
		fail(err)
	}
	rep.Mode = m
	out, _ := json.Marshal(rep)
	os.Stdout.WriteString("REPORT " + string(out) + "\n")
	os.Exit(0)
}

func runChild(t *testing.T, mode string) childReport {
	t.Helper()
	if NativeArch() == "" {
		t.Skipf("no system call tables for %s", goruntime.GOARCH)
	}
	if _, err := seccompMode(); errors.Is(err, errors.ErrUnsupported) {
		testenv.SkipOrFail(t, "the kernel has no seccomp")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestInstallChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stdout
	err := cmd.Run()
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		if js, ok := strings.CutPrefix(sc.Text(), "REPORT "); ok {
			var rep childReport
			if err := json.Unmarshal([]byte(js), &rep); err != nil {
				t.Fatal(err)
			}
			return rep
		}
	}
	t.Fatalf("child (%s): %v\n%s", mode, err, stdout.String())
	return childReport{}
}

func TestInstall(t *testing.T) {
	for _, mode := range []string{"nnp", "tsync", "root"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "root" {
				// Without no_new_privs the kernel wants CAP_SYS_ADMIN.
				testenv.RequireRoot(t)
			}
			rep := runChild(t, mode)
			want := childReport{
				Getpid: 42, GetpgidHigh: 43, GetpgidLow: int(unix.ESRCH),
				Getppid: 0, OtherThread: 0, Mode: 2,
			}
			if mode == "tsync" {
				want.OtherThread = 42
			}
			if strconv.IntSize == 32 {
				// A 32-bit ABI: arguments have no high half, and the
				// filter compares the low ones alone.
				want.GetpgidHigh, want.GetpgidLow = 43, 43
			}
			if rep != want {
				t.Errorf("child saw %+v, want %+v", rep, want)
			}
		})
	}
}

// TestInstallTime measures what a container's start pays for a profile of
// docker's size: its compile in the parent and its install in init.
func TestInstallTime(t *testing.T) {
	rep := runChild(t, "timing")
	if rep.Mode != 2 {
		t.Fatalf("seccomp mode %d after install, want 2", rep.Mode)
	}
	t.Logf("podman's profile: %d instructions, compile %d µs, install %d µs (again: %d µs)", rep.Insns, rep.CompileMicros, rep.InstallMicros, rep.Install2)
}
