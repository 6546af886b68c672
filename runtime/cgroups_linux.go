package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/cgroups"
	"github.com/minirun/minirun/cgroups/devices"
)

// newCgroup makes the container's cgroup before its init exists, so that
// init can be born in it (CLONE_INTO_CGROUP): no instant of the container
// is outside its limits.
func (r *Runtime) newCgroup(id, dir string, s *specs.Spec) (*cgroups.Manager, error) {
	var path string
	if s.Linux != nil {
		path = s.Linux.CgroupsPath
	}
	if path == "" {
		if mode, err := cgroups.Detect(cgroups.DefaultRoot); err == nil && mode == cgroups.Unified {
			// Not under minirun's own cgroup, as on v1: on v2 that cgroup
			// holds minirun itself (a login session's scope, say), and
			// the "no internal processes" rule forbids handing controllers
			// down from a cgroup with processes. The root of the
			// hierarchy (of the cgroup namespace) is exempt.
			path = "/minirun/" + id
		}
	}
	res := resourcesOf(s)
	if mem := res.Memory; mem != nil && (mem.Kernel != nil || mem.KernelTCP != nil) {
		// Deprecated by the runtime spec, which lets runtimes ignore them:
		// Linux 5.4 stopped enforcing kernel memory limits.
		r.Log.Warn("linux.resources.memory.kernel and kernelTCP are deprecated and ignored")
		m := *mem
		m.Kernel, m.KernelTCP = nil, nil
		res.Memory = &m
	}
	m, err := cgroups.New(cgroups.Config{Path: path, ID: id, Resources: res, Log: r.Log, Explain: r.Explain})
	if err != nil {
		return nil, err
	}
	// Said before it is made: killed from here to the record, minirun
	// would otherwise leave a cgroup nothing names (see orphanCgroup).
	if err := writeJSON(dir, cgroupFile, m.State()); err != nil {
		return nil, err
	}
	if err := m.Create(); err != nil {
		return nil, err
	}
	// On cgroup v2 device access is an eBPF program on the cgroup, not a
	// file to write: attach it before any process is in the cgroup.
	if dir := m.Dir(); dir != "" {
		if err := devices.Attach(dir, res.Devices); err != nil {
			m.Destroy()
			return nil, fmt.Errorf("device rules: %w", err)
		}
		for _, line := range devices.Describe(res.Devices) {
			r.Log.Debug("device rule: " + line)
		}
	}
	return m, nil
}

// resourcesOf returns the spec's resources with the device rules a
// container needs to use its own /dev: the spec's rules first, then the
// default devices and those the spec creates (linux.devices), allowed, as
// runc does. Later rules win, so these cannot be denied by accident.
func resourcesOf(s *specs.Spec) *specs.LinuxResources {
	var res specs.LinuxResources
	if s.Linux != nil && s.Linux.Resources != nil {
		res = *s.Linux.Resources
	}
	rules := append([]specs.LinuxDeviceCgroup(nil), res.Devices...)
	rules = append(rules, devices.DefaultAllow...)
	if s.Linux != nil {
		for _, d := range s.Linux.Devices {
			major, minor := d.Major, d.Minor
			typ := d.Type
			if typ == "u" {
				typ = "c"
			}
			if typ == "p" {
				continue // a FIFO is no device the filter sees
			}
			rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: typ, Major: &major, Minor: &minor, Access: "rwm"})
		}
	}
	res.Devices = rules
	return &res
}

// removeOrphanCgroup removes the cgroup of a create that was killed before
// it wrote its record, found through cgroupFile: its init, if it got that
// far, ends by itself when its parent's socket closes, and is killed here
// if it has not yet.
func (r *Runtime) removeOrphanCgroup(dir string) error {
	var st cgroups.State
	if err := readJSON(filepath.Join(dir, cgroupFile), &st); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	cg := cgroups.Load(st, r.Log)
	cg.Kill()
	if err := cg.Destroy(); err != nil {
		return err
	}
	removeDefaultParents(st)
	return nil
}

// cgroupOf rebuilds the manager of a container from its record, or nil
// for a container created without one.
func (r *Runtime) cgroupOf(rec *record) *cgroups.Manager {
	if rec.Cgroup == nil {
		return nil
	}
	return cgroups.Load(*rec.Cgroup, r.Log)
}

// bornInCgroup arranges for init to start inside m: on cgroup v2 with
// clone3's CLONE_INTO_CGROUP (the returned file must stay open until
// init is started); elsewhere init is moved in by the parent before it is
// sent its config, i.e. before it runs anything, and init then unshares
// its cgroup namespace itself, since one made at clone time would be
// rooted at the parent's cgroup.
func bornInCgroup(m *cgroups.Manager, cfg *initConfig, flags *uintptr, useFD *bool, fd *int) (*os.File, error) {
	if dir := m.Dir(); dir != "" {
		f, err := os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		*useFD, *fd = true, int(f.Fd())
		return f, nil
	}
	if *flags&unix.CLONE_NEWCGROUP != 0 {
		*flags &^= unix.CLONE_NEWCGROUP
		cfg.UnshareCgroupNS = true
	}
	return nil, nil
}

// forkInCgroup returns how init is born into its cgroup on a v1 host: the
// thread that forks it first moves itself there (see
// cgroups.Manager.EnterThread), which spares every start an RCU grace
// period. It returns nil where init is moved in after the fork instead:
// on v2, where clone3 with CLONE_INTO_CGROUP does better (bornIn), and under
// a pids limit of 1, which the forking thread and init together would
// exceed.
func forkInCgroup(cg *cgroups.Manager, s *specs.Spec, bornIn bool) func() (func() error, error) {
	if bornIn || cg.Dir() != "" {
		return nil
	}
	if s.Linux == nil {
		return nil
	}
	if r := s.Linux.Resources; r != nil && r.Pids != nil && r.Pids.Limit != nil && *r.Pids.Limit > 0 && *r.Pids.Limit < 2 {
		return nil
	}
	return cg.EnterThread
}

// cloneIntoCgroupUnsupported tells a kernel without CLONE_INTO_CGROUP
// (before 5.7) from other failures of clone3.
func cloneIntoCgroupUnsupported(err error) bool {
	return errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.E2BIG)
}

// removeDefaultParents removes the "minirun" cgroup that default paths
// (minirun/<id>, under minirun's own cgroup) share, once its last container
// is gone: left behind, an empty child would keep whoever manages the
// parent cgroup from removing it. rmdir(2) fails on a cgroup that still has
// children, so a busy one stays.
func removeDefaultParents(st cgroups.State) {
	for _, dir := range st.Dirs {
		if parent := filepath.Dir(dir); filepath.Base(parent) == "minirun" {
			unix.Rmdir(parent)
		}
	}
}
