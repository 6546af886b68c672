package doctor

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/minirun/minirun/cgroups"
)

// v1Dirs is what cgroups.New resolves on a hybrid host like the one this
// package was written on: memory below a cgroup of its own, the rest at
// the hierarchies' roots.
func v1Dirs(without ...string) map[string]string {
	dirs := map[string]string{
		"cpu":     "/sys/fs/cgroup/cpu/minirun/doctor-probe",
		"cpuacct": "/sys/fs/cgroup/cpuacct/minirun/doctor-probe",
		"cpuset":  "/sys/fs/cgroup/cpuset/minirun/doctor-probe",
		"devices": "/sys/fs/cgroup/devices/minirun/doctor-probe",
		"freezer": "/sys/fs/cgroup/freezer/minirun/doctor-probe",
		"memory":  "/sys/fs/cgroup/memory/process_api/a53ec0c2e40b/minirun/doctor-probe",
		"pids":    "/sys/fs/cgroup/pids/minirun/doctor-probe",
	}
	for _, c := range without {
		delete(dirs, c)
	}
	return dirs
}

var v2Dirs = map[string]string{"": "/sys/fs/cgroup/minirun/doctor-probe"}

func TestCheckCgroups(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     CgroupInput
		status Status
		// The message and the fix must contain these.
		msg, fix []string
	}{
		{
			name:   "v2 at the root",
			in:     CgroupInput{Mode: cgroups.Unified, Dirs: v2Dirs, Parent: "/sys/fs/cgroup", ParentIsRoot: true, Controllers: File{Data: "cpuset cpu io memory hugetlb pids rdma misc\n"}, Procs: File{Data: "1\n57\n"}},
			status: OK,
			msg:    []string{"v2:", "under /sys/fs/cgroup/minirun", "cpu io memory"},
		},
		{
			name:   "v2, minirun/ made, parent enables all",
			in:     CgroupInput{Mode: cgroups.Unified, Dirs: v2Dirs, Parent: "/sys/fs/cgroup/minirun", Controllers: File{Data: "cpuset cpu io memory pids\n"}},
			status: OK,
			msg:    []string{"v2:"},
		},
		{
			name:   "v2, minirun/ lacks memory and pids",
			in:     CgroupInput{Mode: cgroups.Unified, Dirs: v2Dirs, Parent: "/sys/fs/cgroup/minirun", Controllers: File{Data: "cpuset cpu io\n"}},
			status: Warn,
			msg:    []string{"/sys/fs/cgroup/minirun offers no memory, pids controller"},
			fix:    []string{`echo "+memory +pids" > /sys/fs/cgroup/cgroup.subtree_control`},
		},
		{
			name:   "v2 root without memory",
			in:     CgroupInput{Mode: cgroups.Unified, Dirs: v2Dirs, Parent: "/sys/fs/cgroup", ParentIsRoot: true, Controllers: File{Data: "cpu io pids\n"}},
			status: Warn,
			msg:    []string{"offers no cpuset, memory controller"},
			fix:    []string{"cgroup_disable="},
		},
		{
			name:   "v2 minirun/ with stray processes",
			in:     CgroupInput{Mode: cgroups.Unified, Dirs: v2Dirs, Parent: "/sys/fs/cgroup/minirun", Controllers: File{Data: "cpuset cpu io memory pids\n"}, Procs: File{Data: "4242\n"}},
			status: Warn,
			msg:    []string{"no internal processes", "/sys/fs/cgroup/minirun has processes"},
			fix:    []string{"for p in $(cat /sys/fs/cgroup/minirun/cgroup.procs); do echo $p > /sys/fs/cgroup/cgroup.procs; done"},
		},
		{
			name:   "v2 in a cgroup namespace whose root has processes",
			in:     CgroupInput{Mode: cgroups.Unified, Dirs: v2Dirs, Parent: "/sys/fs/cgroup", Controllers: File{Data: "cpu io memory pids cpuset\n"}, Procs: File{Data: "1\n"}},
			status: Warn,
			msg:    []string{"no internal processes"},
			fix:    []string{"mkdir /sys/fs/cgroup/init", "/sys/fs/cgroup/init/cgroup.procs"},
		},
		{
			name:   "v2 controllers unreadable",
			in:     CgroupInput{Mode: cgroups.Unified, Dirs: v2Dirs, Parent: "/sys/fs/cgroup", Controllers: File{Err: fs.ErrPermission}},
			status: Warn,
			msg:    []string{"cannot read the controllers"},
		},
		{
			name:   "hybrid",
			in:     CgroupInput{Mode: cgroups.Hybrid, Dirs: v1Dirs(), Unified: File{Data: "hugetlb\n"}},
			status: Warn,
			msg:    []string{"hybrid:", "/sys/fs/cgroup/unified (holding hugetlb", "cpu cpuacct cpuset devices freezer memory pids", "memory/process_api/a53ec0c2e40b/minirun", "needs cgroup v2"},
			fix:    []string{"systemd.unified_cgroup_hierarchy=1", "update-grub"},
		},
		{
			name:   "v1 without pids",
			in:     CgroupInput{Mode: cgroups.Legacy, Dirs: v1Dirs("pids")},
			status: Warn,
			msg:    []string{"v1:", "no pids hierarchy: --pids-limit fails"},
			fix:    []string{"systemd.unified_cgroup_hierarchy=1"},
		},
		{
			name:   "v1 without devices",
			in:     CgroupInput{Mode: cgroups.Legacy, Dirs: v1Dirs("devices")},
			status: Fail,
			msg:    []string{"no devices hierarchy: every container fails"},
			fix:    []string{"mount -t cgroup -o devices cgroup /sys/fs/cgroup/devices"},
		},
		{
			name:   "nothing mounted",
			in:     CgroupInput{Err: errors.New(`detect cgroup mode: /sys/fs/cgroup is neither cgroup2 nor tmpfs (filesystem magic 0xef53)`)},
			status: Fail,
			msg:    []string{"every container fails", "magic 0xef53"},
			fix:    []string{"mount -t cgroup2 cgroup2 /sys/fs/cgroup"},
		},
		{
			name:   "v1 with no controller at all",
			in:     CgroupInput{Mode: cgroups.Legacy, Err: errors.New("new cgroup manager: none of the v1 controllers cpu, cpuacct, cpuset, devices, freezer, memory, pids is mounted under /sys/fs/cgroup")},
			status: Fail,
			msg:    []string{"v1: minirun cannot place", "none of the v1 controllers"},
			fix:    []string{"mount -t cgroup -o devices"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := checkCgroups(tc.in)
			checkFinding(t, f, "cgroups", tc.status, tc.msg, tc.fix)
		})
	}
}

// checkFinding fails t unless f is of check and status, its message holds
// every string of msg and its fix every string of fix.
func checkFinding(t *testing.T, f Finding, check string, status Status, msg, fix []string) {
	t.Helper()
	if f.Check != check || f.Status != status {
		t.Errorf("finding = %s %s, want %s %s: %s", f.Check, f.Status, check, status, f.Message)
	}
	for _, s := range msg {
		if !strings.Contains(f.Message, s) {
			t.Errorf("message %q lacks %q", f.Message, s)
		}
	}
	for _, s := range fix {
		if !strings.Contains(f.Fix, s) {
			t.Errorf("fix %q lacks %q", f.Fix, s)
		}
	}
	if len(fix) == 0 && f.Status == OK && f.Fix != "" {
		t.Errorf("an ok finding comes with a fix: %q", f.Fix)
	}
}
