package runtime

import (
	"errors"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestValidateID(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"abc", true}, {"a1_b-c.d", true}, {"0", true}, {"A.b", true},
		{"", false}, {"../x", false}, {"a/b", false}, {".hidden", false}, {"-x", false},
		{"x..y", false}, {"..", false}, {"a b", false}, {"é", false}, {"_a", false},
	} {
		err := ValidateID(tc.id)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateID(%q) = %v, want ok=%v", tc.id, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidID) {
			t.Errorf("ValidateID(%q) error %v is not ErrInvalidID", tc.id, err)
		}
	}
}

func TestParseSignal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want unix.Signal
		ok   bool
	}{
		{"", unix.SIGTERM, true}, {"KILL", unix.SIGKILL, true}, {"SIGKILL", unix.SIGKILL, true},
		{"sigterm", unix.SIGTERM, true}, {"9", unix.SIGKILL, true}, {"USR1", unix.SIGUSR1, true},
		{"RTMIN", 34, true}, {"RTMIN+3", 37, true}, {"SIGRTMAX-1", 63, true}, {"RTMAX", 64, true},
		{"0", 0, false}, {"65", 0, false}, {"NOPE", 0, false}, {"RTMIN+40", 0, false}, {"-1", 0, false},
	} {
		got, err := ParseSignal(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseSignal(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// A real /proc/PID/stat of a zombie, whose command holds ") (" to trip a
// naive parser; killed by SIGKILL (exit_code 9).
const zombieStat = "4242 (a) (b c) Z 1 4242 4242 0 -1 4227140 100 0 0 0 1 2 0 0 20 0 1 0 987654 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 9\n"

func TestParseProcStat(t *testing.T) {
	st, err := parseProcStat([]byte(zombieStat))
	if err != nil {
		t.Fatal(err)
	}
	if st.State != 'Z' || st.StartTime != 987654 || st.ExitCode != 9 {
		t.Errorf("got %+v, want state Z, start 987654, exit code 9", st)
	}
	if _, err := parseProcStat([]byte("12 (x) R 1")); err == nil {
		t.Error("short stat parsed without error")
	}
	if _, err := parseProcStat([]byte("no parens")); err == nil {
		t.Error("stat without a command parsed without error")
	}
}

func TestCapSets(t *testing.T) {
	s, unknown := capSetsOf(&specs.LinuxCapabilities{
		Bounding:  []string{"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"},
		Effective: []string{"CAP_SYS_ADMIN", "net_raw"},
		Ambient:   []string{"CAP_NOT_A_THING"},
	})
	if s.Bounding != 0x20000420 {
		t.Errorf("bounding = %#x, want 0x20000420", s.Bounding)
	}
	if want := uint64(1)<<21 | 1<<13; s.Effective != want {
		t.Errorf("effective = %#x, want %#x", s.Effective, want)
	}
	if !reflect.DeepEqual(unknown, []string{"CAP_NOT_A_THING"}) {
		t.Errorf("unknown = %v", unknown)
	}
	if got := capNames(0x20000420); got != "KILL,NET_BIND_SERVICE,AUDIT_WRITE" {
		t.Errorf("capNames = %q", got)
	}
	if none, _ := capSetsOf(nil); none != (capSets{}) {
		t.Errorf("nil capabilities gave %+v", none)
	}
}

func TestExecProcess(t *testing.T) {
	base := &specs.Process{
		Args: []string{"sh"}, Env: []string{"PATH=/bin", "A=1"}, Cwd: "/",
		User:         specs.User{UID: 5, GID: 6, AdditionalGids: []uint32{7}},
		Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_KILL"}},
		Terminal:     true,
	}
	p, err := ExecProcess(base, ExecFlags{
		Args: []string{"ps", "-ef"}, Env: []string{"A=2", "B=3"}, Cwd: "/tmp", User: "1000:1001",
		AdditionalGids: []uint32{9}, Caps: []string{"sys_admin"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Args, []string{"ps", "-ef"}) || p.Terminal || p.Cwd != "/tmp" {
		t.Errorf("args/terminal/cwd: %+v", p)
	}
	if !reflect.DeepEqual(p.Env, []string{"PATH=/bin", "A=2", "B=3"}) {
		t.Errorf("env = %v", p.Env)
	}
	if p.User.UID != 1000 || p.User.GID != 1001 || !reflect.DeepEqual(p.User.AdditionalGids, []uint32{7, 9}) {
		t.Errorf("user = %+v", p.User)
	}
	if !reflect.DeepEqual(p.Capabilities.Bounding, []string{"CAP_KILL", "CAP_SYS_ADMIN"}) {
		t.Errorf("bounding = %v", p.Capabilities.Bounding)
	}
	if !reflect.DeepEqual(base.Env, []string{"PATH=/bin", "A=1"}) || base.User.AdditionalGids[0] != 7 || len(base.User.AdditionalGids) != 1 {
		t.Errorf("base process was modified: %+v", base)
	}
	for _, bad := range []ExecFlags{
		{}, {Args: []string{"x"}, Env: []string{"NOEQUALS"}}, {Args: []string{"x"}, Cwd: "rel"},
		{Args: []string{"x"}, User: "root"}, {Args: []string{"x"}, User: "1:g"},
	} {
		if _, err := ExecProcess(base, bad); err == nil {
			t.Errorf("ExecProcess(%+v) succeeded", bad)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"100", 100, true}, {"64k", 64 << 10, true}, {"32M", 32 << 20, true}, {"1g", 1 << 30, true},
		{"32mb", 32 << 20, true}, {"-1", -1, true},
		{"", 0, false}, {"x", 0, false}, {"-5", 0, false}, {"1t", 0, false}, {"9999999999g", 0, false},
	} {
		got, err := ParseBytes(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestUpdateFlags(t *testing.T) {
	quota := int64(1)
	base := &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: &quota}}
	res, err := UpdateFlags{Memory: "32m", CPUPeriod: "100000", PidsLimit: "20", CPUSetCPUs: "0"}.Resources(base)
	if err != nil {
		t.Fatal(err)
	}
	if *res.Memory.Limit != 32<<20 || *res.CPU.Period != 100000 || *res.CPU.Quota != 1 || *res.Pids.Limit != 20 || res.CPU.Cpus != "0" {
		t.Errorf("resources = %+v %+v %+v", res.Memory, res.CPU, res.Pids)
	}
	if res.Memory.Swap != nil || res.BlockIO != nil {
		t.Errorf("unset flags were set: %+v", res)
	}
	if _, err := (UpdateFlags{CPUShares: "lots"}).Resources(nil); err == nil {
		t.Error("--cpu-shares lots accepted")
	}
}
