package test

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// What test/probe reports, and the checks built on it.

// probeReport mirrors test/probe's Report.
type probeReport struct {
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
	Caps        map[string]string `json:"caps"`
	NoNewPrivs  string            `json:"noNewPrivs"`
	Rlimits     map[string]rlimit `json:"rlimits"`
	Env         []string          `json:"env"`
	Fds         map[int]string    `json:"fds"`
	Mounts      []mountEntry      `json:"mounts"`
	Masked      map[string]bool   `json:"masked"`
	Readonly    map[string]bool   `json:"readonly"`
	Namespaces  map[string]string `json:"namespaces"`
	OOMScoreAdj string            `json:"oomScoreAdj"`
	Sysctl      map[string]string `json:"sysctl"`
	Errors      []string          `json:"errors"`
	raw         string
}

type rlimit struct{ Soft, Hard uint64 }

type mountEntry struct {
	Point        string `json:"point"`
	FSType       string `json:"fstype"`
	Source       string `json:"source"`
	Options      string `json:"options"`
	SuperOptions string `json:"superOptions"`
}

func parseReport(t *testing.T, out string) probeReport {
	t.Helper()
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	var p probeReport
	if err := json.Unmarshal([]byte(line), &p); err != nil {
		t.Fatalf("parse probe report: %v\noutput: %q", err, out)
	}
	p.raw = line
	return p
}

// mount returns the last (topmost) mount at point.
func (p probeReport) mount(point string) (mountEntry, bool) {
	for i := len(p.Mounts) - 1; i >= 0; i-- {
		if p.Mounts[i].Point == point {
			return p.Mounts[i], true
		}
	}
	return mountEntry{}, false
}

func (p probeReport) hasEnv(kv string) bool { return slices.Contains(p.Env, kv) }

// hasOpt reports whether a comma-separated option list holds opt.
func hasOpt(list, opt string) bool {
	for _, o := range strings.Split(list, ",") {
		if o == opt {
			return true
		}
	}
	return false
}

// --- capabilities ----------------------------------------------------------

var capBits = map[string]uint{
	"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3, "CAP_FSETID": 4,
	"CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_LINUX_IMMUTABLE": 9,
	"CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13,
	"CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15, "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17,
	"CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19, "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21,
	"CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23, "CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25,
	"CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27, "CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29,
	"CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31, "CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33,
	"CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35, "CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37,
	"CAP_PERFMON": 38, "CAP_BPF": 39, "CAP_CHECKPOINT_RESTORE": 40,
}

func capMask(t *testing.T, names []string) uint64 {
	t.Helper()
	var m uint64
	for _, n := range names {
		bit, ok := capBits[n]
		if !ok {
			t.Fatalf("unknown capability %q", n)
		}
		m |= 1 << bit
	}
	return m
}

// expectedCaps is what /proc/self/status must show after the runtime set
// the spec's sets and execve'd a plain binary (capabilities(7)): ambient
// needs the capability in permitted and inheritable; root regains
// bounding|inheritable in permitted; a non-root user keeps only ambient.
func expectedCaps(t *testing.T, p *specs.Process) map[string]uint64 {
	t.Helper()
	c := p.Capabilities
	if c == nil {
		c = &specs.LinuxCapabilities{}
	}
	bnd, inh, prm := capMask(t, c.Bounding), capMask(t, c.Inheritable), capMask(t, c.Permitted)
	amb := capMask(t, c.Ambient) & inh & prm
	eff := amb
	if p.User.UID == 0 {
		eff = bnd | inh
	}
	return map[string]uint64{"CapBnd": bnd, "CapInh": inh, "CapAmb": amb, "CapPrm": eff, "CapEff": eff}
}

func checkCaps(t *testing.T, got map[string]string, want map[string]uint64) {
	t.Helper()
	for _, k := range []string{"CapBnd", "CapPrm", "CapEff", "CapInh", "CapAmb"} {
		var v uint64
		if _, err := fmt.Sscanf(got[k], "%x", &v); err != nil || v != want[k] {
			t.Errorf("%s = %q, want %016x", k, got[k], want[k])
		}
	}
}

// canRaiseHardLimits reports whether this process holds CAP_SYS_RESOURCE
// (this machine's bounding set lacks it, so nobody here can raise a hard
// rlimit).
func canRaiseHardLimits() bool {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			var m uint64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%x", &m); err == nil {
				return m&(1<<capBits["CAP_SYS_RESOURCE"]) != 0
			}
		}
	}
	return false
}

// nsInode extracts N from "net:[N]".
func nsInode(link string) string {
	_, rest, _ := strings.Cut(link, "[")
	return strings.TrimSuffix(rest, "]")
}

// oneLine checks a failure message: non-empty, a single line.
func oneLine(t *testing.T, r result) {
	t.Helper()
	msg := strings.TrimSpace(r.stderr)
	if msg == "" || strings.Contains(msg, "\n") {
		t.Errorf("want exactly one line on stderr naming the problem, got:\n%v", r)
	}
}
