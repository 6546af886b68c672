package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestCgroupFields: one row per linux.resources field that TestCgroupLimits
// and friends (cgroups_test.go) do not cover. Each row creates a container
// and reads the file the field must have written back from the host,
// through /proc/PID/cgroup, or checks the behaviour from inside. Rows the
// host cannot do skip with the reason; where minirun refuses a field on
// cgroup v1 (blockIO, hugepageLimits, unified, cpu.idle: "needs cgroup v2")
// the row asserts that clear error instead and that no state is left.
func TestCgroupFields(t *testing.T) {
	v2 := cgroupV2()
	// A container with the resources of mutate, created (not started): its
	// cgroup is complete once create returns.
	created := func(t *testing.T, mutate func(*specs.Spec)) cgroupView {
		t.Helper()
		b := newBundle(t, func(s *specs.Spec) {
			s.Process.Args = []string{"/probe", "-sleep", "60s"}
			mutate(s)
		})
		c := create(t, b)
		return cgroupOfPid(t, state(t, c.id).Pid)
	}
	// refused: create must fail, saying want, and leave no container.
	refused := func(t *testing.T, mutate func(*specs.Spec), want string) {
		t.Helper()
		b := newBundle(t, func(s *specs.Spec) {
			s.Process.Args = []string{"/probe", "-sleep", "60s"}
			mutate(s)
		})
		id := newID(t)
		r := rt(t, "create", "--bundle", b, id)
		if r.code == 0 {
			t.Fatalf("create succeeded, want an error saying %q: %v", want, r)
		}
		if want != "" && !strings.Contains(r.stderr, want) {
			t.Errorf("create failed without saying %q: %v", want, r)
		}
		if st := rt(t, "state", id); st.code == 0 {
			t.Errorf("a refused create left container %s behind: %v", id, st)
		}
		// (stateFor's cleanup also fails the test on leftover state dirs.)
	}
	// needsV2 is the row on a v1 (hybrid) host for a field minirun only
	// supports on v2.
	needsV2 := func(t *testing.T, field string, mutate func(*specs.Spec)) {
		t.Helper()
		if !isMinirun {
			t.Skipf("%s on cgroup v1: only minirun's refusal is checked here", field)
		}
		refused(t, mutate, "linux.resources."+field+" needs cgroup v2")
	}
	// readFile is a cgroup file of the container, trimmed.
	readFile := func(t *testing.T, dir, file string) string {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatalf("read back: %v", err)
		}
		return strings.TrimSpace(string(data))
	}
	expect := func(t *testing.T, dir, file, want string) {
		t.Helper()
		if got := readFile(t, dir, file); got != want {
			t.Errorf("%s = %q, want %q", filepath.Join(dir, file), got, want)
		}
	}

	t.Run("memory.swap", func(t *testing.T) {
		requireControllers(t, "memory")
		mem := withResources(specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(96 << 20)}})
		if v2 {
			requireV2File(t, "memory", "memory.swap.max")
			v := created(t, mem)
			// OCI swap is memory+swap; v2 counts swap alone.
			expect(t, v.dirs[""], "memory.swap.max", strconv.Itoa(32<<20))
			return
		}
		if _, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"); err != nil {
			t.Skip("no memory.memsw.limit_in_bytes (swap accounting off)")
		}
		v := created(t, mem)
		expect(t, v.dirs["memory"], "memory.memsw.limit_in_bytes", strconv.Itoa(96<<20))
	})

	t.Run("cpu.cpus+mems", func(t *testing.T) {
		requireControllers(t, "cpuset")
		v := created(t, withResources(specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0", Mems: "0"}}))
		dir, prefix := v.dirs[""], "cpuset."
		if !v2 {
			dir = v.dirs["cpuset"]
		}
		expect(t, dir, prefix+"cpus", "0")
		expect(t, dir, prefix+"mems", "0")
	})

	t.Run("cpu.idle", func(t *testing.T) {
		idle := withResources(specs.LinuxResources{CPU: &specs.LinuxCPU{Idle: i64(1)}})
		if !v2 {
			needsV2(t, "cpu.idle", idle)
			return
		}
		requireControllers(t, "cpu")
		requireV2File(t, "cpu", "cpu.idle") // Linux 5.15
		v := created(t, idle)
		expect(t, v.dirs[""], "cpu.idle", "1")
	})

	t.Run("blockIO.weight", func(t *testing.T) {
		io := withResources(specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(500)}})
		if !v2 {
			needsV2(t, "blockIO", io)
			return
		}
		requireControllers(t, "io")
		requireV2File(t, "io", "io.weight") // blk-iocost or BFQ
		v := created(t, io)
		// runc's conversion: 1 + (weight-10)*9999/990.
		expect(t, v.dirs[""], "io.weight", fmt.Sprintf("default %d", 1+(500-10)*9999/990))
	})

	t.Run("blockIO.throttleReadBpsDevice", func(t *testing.T) {
		if !v2 {
			t.Skip("io.max is cgroup v2 (minirun refuses blockIO on v1: the blockIO.weight row)")
		}
		requireControllers(t, "io")
		// The test VM's scratch disk: a real block device. Host disks are
		// not ours to name.
		var st unix.Stat_t
		if err := unix.Stat("/dev/vda", &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK {
			t.Skip("no /dev/vda block device (the test VM's scratch disk)")
		}
		major, minor := int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
		dev := specs.LinuxThrottleDevice{Rate: 1 << 20}
		dev.Major, dev.Minor = major, minor
		v := created(t, withResources(specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{dev}}}))
		expect(t, v.dirs[""], "io.max", fmt.Sprintf("%d:%d rbps=%d wbps=max riops=max wiops=max", major, minor, 1<<20))
	})

	t.Run("hugepageLimits", func(t *testing.T) {
		huge := withResources(specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}})
		if !v2 {
			needsV2(t, "hugepageLimits", huge)
			return
		}
		if !v2Controller("hugetlb") {
			t.Skip("no hugetlb controller in this kernel")
		}
		requireV2File(t, "hugetlb", "hugetlb.2MB.max")
		v := created(t, huge)
		expect(t, v.dirs[""], "hugetlb.2MB.max", strconv.Itoa(4<<20))
	})

	t.Run("unified", func(t *testing.T) {
		uni := withResources(specs.LinuxResources{Unified: map[string]string{"memory.high": strconv.Itoa(100 << 20)}})
		if !v2 {
			needsV2(t, "unified", uni)
			return
		}
		requireControllers(t, "memory")
		v := created(t, uni)
		expect(t, v.dirs[""], "memory.high", strconv.Itoa(100<<20))
	})

	t.Run("unified path trick", func(t *testing.T) {
		// Both runtimes refuse it (runc: "must be a file name"; on v1 both
		// refuse unified altogether); minirun must name the key.
		want := ""
		switch {
		case isMinirun && v2:
			want = `"../memory.max"`
		case isMinirun:
			want = "linux.resources.unified needs cgroup v2"
		}
		refused(t, withResources(specs.LinuxResources{Unified: map[string]string{"../memory.max": "1"}}), want)
	})

	// devices: through the device cgroup (v1) or eBPF program (v2), seen
	// from inside. The runtime appends its default allow rules (/dev/null,
	// /dev/zero, ...) after the spec's, as runc does, so the spec's rules
	// are checked on /dev/kmsg (1:11), which is not among them: the
	// container (given CAP_MKNOD) makes the node and writes one line to it,
	// which the kernel allows any writer (printk.devkmsg=ratelimit, the
	// default).
	kmsgLine := "echo '<7>minirun devices test' > /tmp/kmsg"
	devicesRow := func(t *testing.T, rules []specs.LinuxDeviceCgroup, script string) result {
		t.Helper()
		if !v2 { // on v2 the rules are an eBPF program: no controller
			requireControllers(t, "devices")
		}
		if data, _ := os.ReadFile("/proc/sys/kernel/printk_devkmsg"); strings.TrimSpace(string(data)) == "off" {
			t.Skip("printk.devkmsg=off: /dev/kmsg refuses writers whatever the device rules")
		}
		b := newBundle(t, func(s *specs.Spec) {
			s.Process.Args = []string{"sh", "-c", script}
			if s.Linux.Resources == nil {
				s.Linux.Resources = &specs.LinuxResources{}
			}
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, rules...)
			if s.Process.Capabilities == nil {
				s.Process.Capabilities = &specs.LinuxCapabilities{}
			}
			c := s.Process.Capabilities
			c.Bounding = append(c.Bounding, "CAP_MKNOD")
			c.Effective = append(c.Effective, "CAP_MKNOD")
			c.Permitted = append(c.Permitted, "CAP_MKNOD")
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"mode=1777"}})
		})
		return rt(t, "run", "--bundle", b, newID(t))
	}
	kmsg := func(access string, allow bool) specs.LinuxDeviceCgroup {
		return specs.LinuxDeviceCgroup{Allow: allow, Type: "c", Major: i64(1), Minor: i64(11), Access: access}
	}
	t.Run("devices default allows /dev/null", func(t *testing.T) {
		if r := devicesRow(t, nil, "echo x > /dev/null && echo ok"); r.code != 0 || !strings.Contains(r.stdout, "ok") {
			t.Errorf("the default container cannot write /dev/null: %v", r)
		}
	})
	t.Run("devices deny", func(t *testing.T) {
		// The default spec denies everything ("a", rwm); mknod is allowed,
		// read and write are not.
		r := devicesRow(t, []specs.LinuxDeviceCgroup{kmsg("m", true)},
			"mknod /tmp/kmsg c 1 11 || exit 3; "+kmsgLine+" || exit 4; echo wrote")
		if r.code != 4 || !strings.Contains(r.stderr+r.stdout, "ermitted") {
			t.Errorf("writing a denied device: want exit 4 (Operation not permitted), got %v", r)
		}
	})
	t.Run("devices allow", func(t *testing.T) {
		r := devicesRow(t, []specs.LinuxDeviceCgroup{kmsg("rwm", true)},
			"mknod /tmp/kmsg c 1 11 || exit 3; "+kmsgLine+" || exit 4; echo wrote")
		if r.code != 0 || !strings.Contains(r.stdout, "wrote") {
			t.Errorf("writing an allowed device: %v", r)
		}
	})
	t.Run("devices later rule wins", func(t *testing.T) {
		// allow, then deny w: the later deny holds (read stays allowed).
		r := devicesRow(t, []specs.LinuxDeviceCgroup{kmsg("rwm", true), kmsg("w", false)},
			"mknod /tmp/kmsg c 1 11 || exit 3; "+kmsgLine+" || exit 4; echo wrote")
		if r.code != 4 {
			t.Errorf("write after a later deny rule: want exit 4, got %v", r)
		}
	})
	t.Run("devices spec cannot deny /dev/null", func(t *testing.T) {
		// runc compatibility: the default devices are allowed after the
		// spec's rules, so a deny of /dev/null is overridden.
		null := specs.LinuxDeviceCgroup{Allow: false, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"}
		if r := devicesRow(t, []specs.LinuxDeviceCgroup{null}, "echo x > /dev/null && echo ok"); r.code != 0 {
			t.Errorf("/dev/null denied by the spec: the default allow rules should come after it (as in runc): %v", r)
		}
	})
}

func u16(n uint16) *uint16 { return &n }

// v2Controller: the controller is available at the v2 root.
func v2Controller(name string) bool {
	data, _ := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	return strings.Contains(" "+strings.TrimSpace(string(data))+" ", " "+name+" ")
}

// requireV2File skips unless a child cgroup of the v2 root, with controller
// enabled, has file: what the kernel offers depends on its config (swap
// accounting, blk-iocost, hugepage sizes, cpu.idle from 5.15). It looks in
// a throwaway cgroup made and removed here (the root itself has none of
// these files).
func requireV2File(t *testing.T, controller, file string) {
	t.Helper()
	if !v2Controller(controller) {
		t.Skipf("no cgroup v2 controller %s", controller)
	}
	sc, _ := os.ReadFile("/sys/fs/cgroup/cgroup.subtree_control")
	if !strings.Contains(" "+strings.TrimSpace(string(sc))+" ", " "+controller+" ") {
		t.Skipf("controller %s is not enabled in /sys/fs/cgroup/cgroup.subtree_control", controller)
	}
	dir := fmt.Sprintf("/sys/fs/cgroup/minirun-fields-probe-%d", os.Getpid())
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		t.Fatalf("probe cgroup: %v", err)
	}
	defer unix.Rmdir(dir)
	if _, err := os.Stat(filepath.Join(dir, file)); err != nil {
		t.Skipf("this kernel has no %s (%v)", file, err)
	}
}
