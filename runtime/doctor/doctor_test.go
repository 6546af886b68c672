package doctor

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/minirun/minirun/cgroups"
	"github.com/minirun/minirun/network"
)

// healthyInputs is a machine with nothing to report but information.
func healthyInputs() Inputs {
	return Inputs{
		Root: true,
		Cgroups: CgroupInput{Mode: cgroups.Unified, Dirs: v2Dirs, Parent: "/sys/fs/cgroup", ParentIsRoot: true,
			Controllers: File{Data: "cpuset cpu io memory pids\n"}},
		Mountinfo:   File{Data: mountinfoSystemd},
		Filesystems: File{Data: procFilesystems},
		Overlay:     OverlayTrial{Store: "/var/lib/minirun", Dir: "/var/lib/minirun", FSType: "xfs", Tried: true},
		Store: StoreInput{Path: "/var/lib/minirun", Dir: "/var/lib/minirun", Mount: "/var/lib", FSType: "xfs",
			Avail: 10 << 30, Size: 20 << 30, Writable: true},
		IPForward:    File{Data: "0\n"},
		Networks:     []network.Network{network.Default()},
		DNS:          network.DNSInput{Host: []byte("nameserver 192.0.2.53\n")},
		MaxUserNS:    File{Data: "0\n"},
		HostPlatform: "linux/amd64",
	}
}

func TestCheckAll(t *testing.T) {
	fs := Check(healthyInputs())
	var names []string
	for _, f := range fs {
		names = append(names, f.Check)
		if f.Status != OK && f.Status != Info {
			t.Errorf("%s: %s: %s", f.Check, f.Status, f.Message)
		}
	}
	want := []string{"cgroups", "overlay", "store", "root", "propagation", "nftables", "ip_forward", "subnets", "dns", "userns", "images"}
	if !slices.Equal(names, want) {
		t.Errorf("checks = %q, want %q", names, want)
	}
	if !Healthy(fs) {
		t.Error("info findings made the machine unhealthy")
	}

	// mountinfo unreadable: both checks that read it say so.
	in := healthyInputs()
	in.Mountinfo = File{Err: errNoProc}
	fs = Check(in)
	for _, i := range []int{3, 4} {
		if fs[i].Status != Warn || !strings.Contains(fs[i].Message, "no procfs") {
			t.Errorf("%s with mountinfo unreadable = %s: %s", fs[i].Check, fs[i].Status, fs[i].Message)
		}
	}
}

var errNoProc = errors.New("no procfs")

func TestHealthy(t *testing.T) {
	for _, tc := range []struct {
		statuses []Status
		want     bool
	}{
		{nil, true},
		{[]Status{OK, Info, OK}, true},
		{[]Status{OK, Warn}, false},
		{[]Status{Fail, OK}, false},
	} {
		var fs []Finding
		for _, s := range tc.statuses {
			fs = append(fs, Finding{Check: "x", Status: s})
		}
		if got := Healthy(fs); got != tc.want {
			t.Errorf("Healthy(%v) = %v, want %v", tc.statuses, got, tc.want)
		}
	}
}

func TestRender(t *testing.T) {
	fs := []Finding{
		{Check: "cgroups", Status: Warn, Message: "hybrid: v1 fallback", Fix: "boot with cgroup v2"},
		{Check: "overlay", Status: OK, Message: "works"},
		{Check: "nftables", Status: Fail, Message: "no nf_tables", Fix: "modprobe nf_tables"},
		{Check: "userns", Status: Info, Message: "off", Fix: "sysctl -w user.max_user_namespaces=15000"},
	}
	var b bytes.Buffer
	if err := Render(&b, fs); err != nil {
		t.Fatal(err)
	}
	want := `warn  cgroups: hybrid: v1 fallback
      fix: boot with cgroup v2
ok    overlay: works
FAIL  nftables: no nf_tables
      fix: modprobe nf_tables
info  userns: off
      fix: sysctl -w user.max_user_namespaces=15000
1 ok, 1 info, 1 warn, 1 fail: exit status 1
`
	if b.String() != want {
		t.Errorf("Render =\n%s\nwant\n%s", b.String(), want)
	}

	b.Reset()
	if err := Render(&b, fs[1:2]); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(b.String(), "1 ok, 0 info, 0 warn, 0 fail: all is well\n") {
		t.Errorf("healthy Render = %q", b.String())
	}

	b.Reset()
	if err := RenderJSON(&b, fs); err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := json.Unmarshal(b.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if r.Healthy || !slices.Equal(r.Findings, fs) {
		t.Errorf("RenderJSON round trip = %+v", r)
	}
	if !strings.Contains(b.String(), `"status": "fail"`) || strings.Contains(b.String(), `"fix": ""`) {
		t.Errorf("RenderJSON = %s", b.String())
	}
}
