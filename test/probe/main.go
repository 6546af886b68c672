// Command probe reports, as one JSON object on stdout, how a process sees
// itself from inside a container: ids, capabilities, limits, fds, mounts,
// namespaces and the result of a few access checks. The integration tests in
// the parent directory copy it into a rootfs and assert on its report.
//
// It must be built static (CGO_ENABLED=0): the rootfs it runs in has no libc.
//
// One caveat: since Go 1.19 the Go runtime raises its own RLIMIT_NOFILE soft
// limit to the hard limit at start-up, so the NOFILE soft value reported here
// is only the configured one when soft == hard. Check soft < hard with a
// non-Go program (busybox's cat /proc/self/limits).
//
// containermaxprocs=0: since Go 1.25 the runtime otherwise keeps the cgroup
// CPU limit files open for the life of the process, and they would show up
// among the open fds this probe reports.
//
//go:debug containermaxprocs=0
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Mount is one line of /proc/self/mountinfo.
type Mount struct {
	Point        string `json:"point"`
	FSType       string `json:"fstype"`
	Source       string `json:"source"`
	Options      string `json:"options"`
	SuperOptions string `json:"superOptions"`
}

// Rlimit is one getrlimit(2) result.
type Rlimit struct {
	Soft uint64 `json:"soft"`
	Hard uint64 `json:"hard"`
}

// Report is what the probe prints. test/report_test.go mirrors it.
type Report struct {
	Pid         int               `json:"pid"`
	Ppid        int               `json:"ppid"`
	Hostname    string            `json:"hostname"`
	UID         int               `json:"uid"`
	GID         int               `json:"gid"`
	EUID        int               `json:"euid"`
	EGID        int               `json:"egid"`
	Groups      []int             `json:"groups"`
	Umask       string            `json:"umask"`
	Cwd         string            `json:"cwd"`
	Caps        map[string]string `json:"caps"` // CapInh, CapPrm, CapEff, CapBnd, CapAmb
	NoNewPrivs  string            `json:"noNewPrivs"`
	Rlimits     map[string]Rlimit `json:"rlimits"`
	Env         []string          `json:"env"`
	Fds         map[int]string    `json:"fds"`
	Mounts      []Mount           `json:"mounts"`
	Masked      map[string]bool   `json:"masked"`   // path → content could be read
	Readonly    map[string]bool   `json:"readonly"` // path → write failed with EROFS
	Namespaces  map[string]string `json:"namespaces"`
	OOMScoreAdj string            `json:"oomScoreAdj"`
	Sysctl      map[string]string `json:"sysctl"`
	Errors      []string          `json:"errors,omitempty"`
}

var rlimits = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC,
	"RLIMIT_RSS": unix.RLIMIT_RSS, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING, "RLIMIT_STACK": unix.RLIMIT_STACK,
}

// modes are subcommands that other files of this package register in
// their init (`probe MODE ARGS...`), for tests that need the probe to act
// rather than report: each returns the exit code.
var modes = map[string]func(args []string) int{}

func main() {
	if len(os.Args) > 1 {
		if m, ok := modes[os.Args[1]]; ok {
			os.Exit(m(os.Args[2:]))
		}
	}
	exit := flag.Int("exit", 0, "exit with this code after printing")
	sleep := flag.Duration("sleep", 0, "sleep this long after printing")
	masked := flag.String("masked", "", "comma-separated paths: is their content readable?")
	readonly := flag.String("readonly", "", "comma-separated paths: does writing fail with EROFS?")
	sysctls := flag.String("sysctl", "", "comma-separated sysctl names to read")
	alloc := flag.Int("alloc", 0, "first allocate and touch this many MiB (to meet a memory limit)")
	spin := flag.Duration("spin", 0, "first keep one CPU busy this long (to meet a CPU limit)")
	flag.Parse()

	for end := time.Now().Add(*spin); time.Now().Before(end); {
	}

	if *alloc > 0 {
		// Touch every page, so the memory is really charged to the cgroup.
		mem := make([]byte, *alloc<<20)
		for i := 0; i < len(mem); i += os.Getpagesize() {
			mem[i] = 1
		}
		fmt.Fprintf(os.Stderr, "allocated %d MiB\n", *alloc)
	}

	// Listing fds first, before anything else is opened.
	r := Report{Fds: fds()}
	r.Pid, r.Ppid = os.Getpid(), os.Getppid()
	r.UID, r.GID, r.EUID, r.EGID = os.Getuid(), os.Getgid(), os.Geteuid(), os.Getegid()
	r.Hostname, _ = os.Hostname()
	r.Groups, _ = unix.Getgroups()
	sort.Ints(r.Groups)
	r.Cwd, _ = os.Getwd()
	r.Env = os.Environ()

	status := procStatus()
	r.Umask, r.NoNewPrivs = status["Umask"], status["NoNewPrivs"]
	r.Caps = map[string]string{}
	for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
		r.Caps[k] = status[k]
	}

	r.Rlimits = map[string]Rlimit{}
	for name, res := range rlimits {
		var l unix.Rlimit
		if err := unix.Getrlimit(res, &l); err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("getrlimit %s: %v", name, err))
			continue
		}
		r.Rlimits[name] = Rlimit{Soft: l.Cur, Hard: l.Max}
	}

	r.Mounts = mounts(&r)
	r.Namespaces = map[string]string{}
	if ents, err := os.ReadDir("/proc/self/ns"); err == nil {
		for _, e := range ents {
			if l, err := os.Readlink("/proc/self/ns/" + e.Name()); err == nil {
				r.Namespaces[e.Name()] = l
			}
		}
	}
	if b, err := os.ReadFile("/proc/self/oom_score_adj"); err == nil {
		r.OOMScoreAdj = strings.TrimSpace(string(b))
	}

	r.Masked = map[string]bool{}
	for _, p := range split(*masked) {
		r.Masked[p] = readable(p)
	}
	r.Readonly = map[string]bool{}
	for _, p := range split(*readonly) {
		err := tryWrite(p)
		r.Readonly[p] = errors.Is(err, unix.EROFS)
		if err != nil && !r.Readonly[p] {
			r.Errors = append(r.Errors, fmt.Sprintf("write %s: %v", p, err))
		}
	}
	r.Sysctl = map[string]string{}
	for _, s := range split(*sysctls) {
		b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(s, ".", "/"))
		if err != nil {
			r.Errors = append(r.Errors, err.Error())
			continue
		}
		r.Sysctl[s] = strings.TrimSpace(string(b))
	}

	out, err := json.Marshal(r)
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(111)
	}
	os.Stdout.Write(append(out, '\n'))
	time.Sleep(*sleep)
	os.Exit(*exit)
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// fds lists the open fds, leaving out the one that reads the directory. It
// uses raw syscalls: os.Open would first set up the Go runtime's poller,
// whose epoll and eventfd descriptors would then show up in the list.
func fds() map[int]string {
	d, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(d)
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.Getdents(d, buf)
		if err != nil || n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	m := map[int]string{}
	for _, n := range names {
		fd, err := strconv.Atoi(n)
		if err != nil || fd == d {
			continue
		}
		m[fd], _ = os.Readlink("/proc/self/fd/" + n)
	}
	return m
}

func procStatus() map[string]string {
	m := map[string]string{}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return m
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// mounts parses /proc/self/mountinfo (proc(5)): "ID PARENT MAJ:MIN ROOT
// POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS".
func mounts(r *Report) []Mount {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
		return nil
	}
	defer f.Close()
	var ms []Mount
	s := bufio.NewScanner(f)
	for s.Scan() {
		pre, post, ok := strings.Cut(s.Text(), " - ")
		a, b := strings.Fields(pre), strings.Fields(post)
		if !ok || len(a) < 6 || len(b) < 3 {
			continue
		}
		ms = append(ms, Mount{Point: unescape(a[4]), Options: a[5], FSType: b[0], Source: b[1], SuperOptions: b[2]})
	}
	return ms
}

// unescape undoes mountinfo's octal escapes (\040 for a space, ...).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// readable reports whether p yields any content: bytes for a file, entries
// for a directory. A masked path is /dev/null or an empty read-only tmpfs.
func readable(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		names, _ := f.Readdirnames(1)
		return len(names) > 0
	}
	buf := make([]byte, 1)
	n, _ := f.Read(buf)
	return n > 0
}

// tryWrite opens p for writing (a file) or creates a file in it (a
// directory) without writing any data, and undoes what it created. Where
// that fails for another reason first (procfs refuses new names with ENOENT,
// a mode without write bits gives EACCES), it rewrites p's own mtime with
// its current value: utimensat(2) checks for a read-only mount before
// anything else.
func tryWrite(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		name := filepath.Join(p, fmt.Sprintf(".probe-%d", os.Getpid()))
		var f *os.File
		if f, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
			f.Close()
			return os.Remove(name)
		}
	} else {
		var f *os.File
		if f, err = os.OpenFile(p, os.O_WRONLY, 0); err == nil {
			return f.Close()
		}
	}
	if errors.Is(err, unix.EROFS) {
		return err
	}
	var st unix.Stat_t
	if unix.Stat(p, &st) != nil {
		return err
	}
	ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, st.Mtim}
	if uerr := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, 0); uerr != nil {
		return uerr
	}
	return err
}
