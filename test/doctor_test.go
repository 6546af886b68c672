package test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/testenv"
)

// doctorLine is one finding of `minirun doctor`: status, check, message.
var (
	doctorLine    = regexp.MustCompile(`^(ok|info|warn|FAIL) +([a-z_]+): (.+)$`)
	doctorFix     = regexp.MustCompile(`^      fix: .+$`)
	doctorSummary = regexp.MustCompile(`^(\d+) ok, (\d+) info, (\d+) warn, (\d+) fail: (all is well|exit status 1)$`)
)

// hostCgroupMode tells the cgroup mode the way the kernel shows it,
// independently of minirun: the filesystem type statfs(2) reports at
// /sys/fs/cgroup, and for a tmpfs there at /sys/fs/cgroup/unified.
func hostCgroupMode(t *testing.T) string {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		t.Fatalf("statfs /sys/fs/cgroup: %v", err)
	}
	switch st.Type {
	case unix.CGROUP2_SUPER_MAGIC:
		return "v2"
	case unix.TMPFS_MAGIC:
		var u unix.Statfs_t
		if err := unix.Statfs("/sys/fs/cgroup/unified", &u); err == nil && u.Type == unix.CGROUP2_SUPER_MAGIC {
			return "hybrid"
		}
		return "v1"
	}
	t.Fatalf("/sys/fs/cgroup has filesystem magic %#x, neither cgroup2 nor tmpfs", st.Type)
	return ""
}

// TestDoctor runs `minirun doctor` on this machine: its cgroups line must
// name the mode the test finds itself, every line must be a finding, a
// fix or the count, the exit status must follow from the findings (1 on
// any warning or failure), --format json must say the same, and the
// doctor must neither make the store nor leave its trial overlay behind.
func TestDoctor(t *testing.T) {
	testenv.RequireRoot(t)
	if !isMinirun {
		t.Skip("doctor is minirun's own verb")
	}
	parent := filepath.Join(testDir(t), "doctor")
	if err := os.Mkdir(parent, 0o700); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(parent, "store") // not made: the doctor must not make it
	mode := hostCgroupMode(t)

	r := rt(t, "--store", store, "doctor")
	if r.err != nil || r.code < 0 {
		t.Fatalf("%v", r)
	}
	statuses := map[string]string{}
	var order []string
	counts := map[string]int{}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	for i, line := range lines {
		if m := doctorLine.FindStringSubmatch(line); m != nil {
			statuses[m[2]] = strings.ToLower(m[1])
			order = append(order, m[2])
			counts[strings.ToLower(m[1])]++
			if m[2] == "cgroups" && !strings.HasPrefix(m[3], mode+":") {
				t.Errorf("cgroups line %q does not name the mode %s", line, mode)
			}
			continue
		}
		if doctorFix.MatchString(line) && i > 0 && doctorLine.MatchString(lines[i-1]) {
			continue
		}
		if m := doctorSummary.FindStringSubmatch(line); m != nil && i == len(lines)-1 {
			for j, s := range []string{"ok", "info", "warn", "fail"} {
				if n, _ := strconv.Atoi(m[j+1]); n != counts[s] {
					t.Errorf("summary counts %d %s, the lines %d", n, s, counts[s])
				}
			}
			if unhealthy := counts["warn"]+counts["fail"] > 0; unhealthy != (m[5] == "exit status 1") {
				t.Errorf("summary %q after %d warnings and %d failures", line, counts["warn"], counts["fail"])
			}
			continue
		}
		t.Errorf("line %d is neither a finding, a fix after one, nor the closing count: %q", i+1, line)
	}
	if statuses["cgroups"] == "" {
		t.Fatalf("no cgroups finding:\n%s", r.stdout)
	}
	// The suite's image tests mount overlays in the same temp dir.
	if statuses["overlay"] != "ok" {
		t.Errorf("overlay finding is %q, want ok:\n%s", statuses["overlay"], r.stdout)
	}
	want := 0
	if counts["warn"]+counts["fail"] > 0 {
		want = 1
	}
	if r.code != want {
		t.Errorf("exit status %d after %d warnings and %d failures, want %d\n%v", r.code, counts["warn"], counts["fail"], want, r)
	}
	t.Logf("minirun doctor:\n%s", r.stdout)

	j := rt(t, "--store", store, "doctor", "--format", "json")
	var rep struct {
		Healthy  bool `json:"healthy"`
		Findings []struct {
			Check, Status, Message, Fix string
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(j.stdout), &rep); err != nil {
		t.Fatalf("doctor --format json: %v\n%v", err, j)
	}
	if j.code != r.code || rep.Healthy != (r.code == 0) {
		t.Errorf("json: exit %d, healthy %v; text: exit %d", j.code, rep.Healthy, r.code)
	}
	if len(rep.Findings) != len(order) {
		t.Errorf("json has %d findings, text %d", len(rep.Findings), len(order))
	}
	for i, f := range rep.Findings {
		if i < len(order) && (f.Check != order[i] || f.Status != statuses[f.Check]) {
			t.Errorf("json finding %d = %s %s, text says %s %s", i, f.Check, f.Status, order[i], statuses[order[i]])
		}
		if (f.Status == "warn" || f.Status == "fail") && f.Message == "" {
			t.Errorf("json finding %s: %s without a message", f.Check, f.Status)
		}
	}

	if _, err := os.Stat(store); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the doctor made the store %s (stat: %v)", store, err)
	}
	if ents, err := os.ReadDir(parent); err != nil || len(ents) > 0 {
		t.Errorf("the doctor left %v in %s (%v)", ents, parent, err)
	}
}

// TestDoctorSubnetCollision gives the suite's network namespace a route
// inside the default network's 10.88.0.0/16, as a VPN or a LAN might: the
// doctor must read it through netlink, name it, warn, and suggest a free
// subnet for a network of one's own.
func TestDoctorSubnetCollision(t *testing.T) {
	testenv.RequireRoot(t)
	if !isMinirun {
		t.Skip("doctor is minirun's own verb")
	}
	if !inSuiteNetns {
		t.Skip("changes routes: only in the suite's own network namespace")
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "doc-lan0"}, PeerName: "doc-lan1"}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatalf("add veth: %v", err)
	}
	t.Cleanup(func() {
		if err := netlink.LinkDel(veth); err != nil {
			t.Errorf("delete veth: %v", err)
		}
	})
	addr, err := netlink.ParseAddr("10.88.77.1/24")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.AddrAdd(veth, addr); err != nil {
		t.Fatalf("add address: %v", err)
	}
	if err := netlink.LinkSetUp(veth); err != nil {
		t.Fatalf("set veth up: %v", err)
	}
	store := filepath.Join(testDir(t), "store")
	r := rt(t, "--store", store, "doctor")
	want := []string{
		"warn  subnets: network minirun (10.88.0.0/16) overlaps the host's route to 10.88.77.0/24 via doc-lan0",
		"      fix: minirun network create --subnet 10.89.0.0/24 mynet, then minirun run --network mynet",
	}
	lines := strings.Split(r.stdout, "\n")
	for i, line := range lines {
		if strings.HasPrefix(line, "warn  subnets:") || strings.HasPrefix(line, "ok    subnets:") {
			if !strings.HasPrefix(line, want[0]) || i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], want[1]) {
				t.Errorf("subnets finding:\n%s\n%s\nwant it to start\n%s\n%s", line, lines[min(i+1, len(lines)-1)], want[0], want[1])
			}
			if r.code != 1 {
				t.Errorf("exit status %d with a warning, want 1", r.code)
			}
			return
		}
	}
	t.Errorf("no subnets finding:\n%v", r)
}
