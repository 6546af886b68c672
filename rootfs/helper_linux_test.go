package rootfs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The root tests run Prepare, Pivot and Finalize in a child process: the
// test binary again, started in new mount, pid, UTS and IPC namespaces, so
// that it is a container's init in miniature. The child looks around from
// the inside and prints what it saw as one JSON line; the parent asserts.

const (
	helperEnv    = "MINIRUN_ROOTFS_HELPER" // path of the child's helperConfig
	reportMarker = "MINIRUN-ROOTFS-REPORT "
)

// helperConfig tells the child what to set up and what to look at.
type helperConfig struct {
	Rootfs  string
	Spec    *specs.Spec
	NoPivot bool
	Overlay *Overlay
	// OverlayData forces the overlay's mount(2) fallback.
	OverlayData bool
	// Control skips Prepare and mounts a tmpfs at Rootfs/tmp directly, to
	// show that the leak check would see a mount that propagates.
	Control bool

	Stat    []string // lstat these
	Read    []string // read files (first 64 bytes) or list directories
	Write   []string // create or open for writing, and write a byte
	Exec    []string // run this (argv), report its stdout
	Mkdirat []string // absolute host paths the parent checks afterwards
}

type statFact struct {
	Errno        int
	Mode         uint32
	Major, Minor uint32
	UID, GID     uint32
	Link         string
}

type readFact struct {
	Errno int
	Data  string
	Names []string
}

type report struct {
	Stage, Err string // the step that failed and how
	Cwd        string
	Mounts     []mountInfo
	Stat       map[string]statFact
	Read       map[string]readFact
	Write      map[string]int // errno, 0 for success
	Exec       string
	Log        []string
}

// TestMain dispatches the child first thing, before the testing package
// parses flags or runs any test: one re-exec entry point, as in the
// runtime's main.
func TestMain(m *testing.M) {
	if cfgPath := os.Getenv(helperEnv); cfgPath != "" {
		// Like the runtime's init: one locked thread does the work.
		goruntime.LockOSThread()
		b, err := json.Marshal(helperRun(cfgPath))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Printf("%s%s\n", reportMarker, b)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func helperRun(cfgPath string) (rep report) {
	var hc helperConfig
	b, err := os.ReadFile(cfgPath)
	if err == nil {
		err = json.Unmarshal(b, &hc)
	}
	if err != nil {
		return report{Stage: "config", Err: err.Error()}
	}
	logs := &logLines{}
	c := &Config{Rootfs: hc.Rootfs, Overlay: hc.Overlay, Spec: hc.Spec, NoPivot: hc.NoPivot, Log: slog.New(logs)}
	forceOverlayData = hc.OverlayData
	defer func() { rep.Log = logs.lines }()
	if hc.Control {
		if err := unix.Mount("tmpfs", filepath.Join(hc.Rootfs, "tmp"), "tmpfs", 0, ""); err != nil {
			return report{Stage: "control", Err: err.Error()}
		}
		return report{}
	}
	for _, step := range []struct {
		name string
		f    func(*Config) error
	}{{"prepare", Prepare}, {"pivot", Pivot}, {"finalize", Finalize}} {
		if err := step.f(c); err != nil {
			return report{Stage: step.name, Err: err.Error()}
		}
	}

	rep.Cwd, _ = unix.Getwd()
	rep.Mounts, err = readMountInfo("/proc/self/mountinfo")
	if err != nil {
		return report{Stage: "mountinfo", Err: err.Error()}
	}
	rep.Stat = map[string]statFact{}
	for _, p := range hc.Stat {
		var st unix.Stat_t
		f := statFact{Errno: errno(unix.Lstat(p, &st))}
		if f.Errno == 0 {
			f.Mode, f.UID, f.GID = st.Mode, st.Uid, st.Gid
			f.Major, f.Minor = unix.Major(st.Rdev), unix.Minor(st.Rdev)
			f.Link, _ = os.Readlink(p)
		}
		rep.Stat[p] = f
	}
	rep.Read = map[string]readFact{}
	for _, p := range hc.Read {
		rep.Read[p] = readPath(p)
	}
	rep.Write = map[string]int{}
	for _, p := range hc.Write {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o644)
		if err == nil {
			_, err = f.Write([]byte("x"))
			f.Close()
		}
		rep.Write[p] = errno(err)
	}
	if len(hc.Exec) > 0 {
		out, err := exec.Command(hc.Exec[0], hc.Exec[1:]...).Output()
		if err != nil {
			return report{Stage: "exec", Err: err.Error()}
		}
		rep.Exec = string(out)
	}
	return rep
}

func readPath(p string) readFact {
	f, err := os.Open(p)
	if err != nil {
		return readFact{Errno: errno(err)}
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		names, err := f.Readdirnames(-1)
		return readFact{Errno: errno(err), Names: names}
	}
	buf := make([]byte, 64)
	n, err := f.Read(buf)
	if err == io.EOF {
		err = nil // an empty file
	}
	return readFact{Errno: errno(err), Data: string(buf[:n])}
}

func errno(err error) int {
	var e syscall.Errno
	if errors.As(err, &e) {
		return int(e)
	}
	if err != nil {
		return -1
	}
	return 0
}

// logLines is an slog.Handler that keeps the messages.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Enabled(context.Context, slog.Level) bool { return true }
func (l *logLines) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logLines) WithGroup(string) slog.Handler            { return l }
func (l *logLines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, r.Message)
	return nil
}

// runHelper runs the child for hc and returns its report.
func runHelper(t *testing.T, hc helperConfig) report {
	t.Helper()
	b, err := json.Marshal(hc)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "helper.json")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+cfgPath)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC,
		Pdeathsig:  syscall.SIGKILL,
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helper: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	for line := range strings.Lines(stdout.String()) {
		if rest, ok := strings.CutPrefix(line, reportMarker); ok {
			var rep report
			if err := json.Unmarshal([]byte(rest), &rep); err != nil {
				t.Fatalf("helper report: %v", err)
			}
			return rep
		}
	}
	t.Fatalf("helper printed no report\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	return report{}
}

// mountInfo is one line of /proc/<pid>/mountinfo (proc(5)).
type mountInfo struct {
	Point, Options, Optional, FSType, Source string
}

func readMountInfo(p string) ([]mountInfo, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMountInfo(f)
}

func parseMountInfo(f io.Reader) ([]mountInfo, error) {
	var ms []mountInfo
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 6 || len(tail) < 2 {
			return nil, fmt.Errorf("mountinfo line %q", sc.Text())
		}
		ms = append(ms, mountInfo{
			Point:    unescapeOctal(fields[4]),
			Options:  fields[5],
			Optional: strings.Join(fields[6:], " "),
			FSType:   tail[0],
			Source:   tail[1],
		})
	}
	return ms, sc.Err()
}

// unescapeOctal undoes the \040-style escapes of mountinfo.
func unescapeOctal(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// hasOption reports whether the comma-separated list has opt.
func hasOption(list, opt string) bool {
	for o := range strings.SplitSeq(list, ",") {
		if o == opt {
			return true
		}
	}
	return false
}
