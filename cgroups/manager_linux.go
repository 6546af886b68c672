package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/explain"
)

// statsControllers are enabled for every container when the parent offers
// them, even without a limit: memory.events (OOM kills), memory.current,
// pids.current, cpu.stat's throttling and io.stat come from them, and
// `minirun update` can add a limit later. A missing one costs only those
// numbers, never an error.
var statsControllers = []string{"cpu", "io", "memory", "pids"}

// Create makes the container's cgroup and applies the limits of
// Config.Resources. On failure it removes every directory it made.
//
// On v2 it makes each missing level of the path, and enables controllers
// top-down: in the deepest existing ancestor and in every level it makes
// except the container's own, because a cgroup only has the controllers
// its parent lists in cgroup.subtree_control. On v1 it makes the path in
// each hierarchy (cpuset levels get the parent's cpus and mems first).
func (m *Manager) Create() (err error) {
	if m.mounts == nil {
		return errors.New("create cgroup: a Manager from Load cannot Create; use New")
	}
	var made []string
	defer func() {
		if err != nil {
			for _, dir := range slices.Backward(made) {
				if rerr := m.rmdir(dir); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
					m.log.Warn("remove cgroup after failed create", "err", rerr)
				}
			}
		}
	}()
	if m.state.Mode == Unified {
		err = m.createV2(&made)
	} else {
		err = m.createV1(&made)
	}
	if err != nil {
		return err
	}
	return m.apply(m.writes)
}

func (m *Manager) createV2(made *[]string) error {
	root, dir := m.mounts[""], m.state.Dirs[""]
	levels, first, err := missing(root, dir)
	if err != nil {
		return err
	}
	parent := root
	if first > 0 {
		parent = levels[first-1]
	}
	enable, err := m.enableControllers(root, parent)
	if err != nil {
		return err
	}
	for i := first; i < len(levels); i++ {
		if err := m.mkdirLevel(levels[i], i == len(levels)-1, made); err != nil {
			return err
		}
		// The container's own cgroup will hold processes: it must not
		// pass controllers on ("no internal processes").
		if i < len(levels)-1 && len(enable) > 0 {
			if err := m.writeSubtree(levels[i], enable, "controllers for the cgroups below"); err != nil {
				return err
			}
		}
	}
	return nil
}

// missing lists the directories from just below the mount down to dir and
// the index of the first one that does not exist. The container's own
// directory must not exist yet: a cgroup that is already there belongs to
// someone else, and Destroy would remove it.
func missing(mount, dir string) ([]string, int, error) {
	rel, err := filepath.Rel(mount, dir)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return nil, 0, fmt.Errorf("create cgroup %s: not below %s", dir, mount)
	}
	var levels []string
	p := mount
	for elem := range strings.SplitSeq(rel, "/") {
		p = filepath.Join(p, elem)
		levels = append(levels, p)
	}
	for i, l := range levels {
		if _, err := os.Stat(l); errors.Is(err, fs.ErrNotExist) {
			return levels, i, nil
		} else if err != nil {
			return nil, 0, err
		}
	}
	return nil, 0, fmt.Errorf("create cgroup %s: %w", dir, fs.ErrExist)
}

// mkdirLevel makes one level of the path. Another minirun may make a shared
// parent ("minirun/") at the same moment; that is fine, but the container's
// own directory must be new.
func (m *Manager) mkdirLevel(dir string, leaf bool, made *[]string) error {
	m.log.Debug(fmt.Sprintf("mkdir %s", dir))
	err := m.mkdir(dir)
	if err != nil && (leaf || !errors.Is(err, fs.ErrExist)) {
		return fmt.Errorf("create cgroup: %w", err)
	}
	if err == nil {
		*made = append(*made, dir)
		m.ex.Stepf(explain.PhaseCgroup, "cgroups(7)", "mkdir %s", dir)
	}
	return nil
}

// enableControllers makes sure parent passes on every controller the
// limits need, and those of statsControllers it has, and returns the list
// to enable in the levels below. It writes parent's cgroup.subtree_control
// only when something is missing there.
func (m *Manager) enableControllers(root, parent string) ([]string, error) {
	need := controllers(m.writes)
	offered, err := readWords(filepath.Join(parent, "cgroup.controllers"))
	if err != nil {
		return nil, fmt.Errorf("read controllers of %s: %w", parent, err)
	}
	for _, c := range need {
		if !slices.Contains(offered, c) {
			return nil, fmt.Errorf("enable controllers: %s does not offer the %s controller that linux.resources needs (cgroup.controllers: %q)",
				parent, c, strings.Join(offered, " "))
		}
	}
	want := slices.Clone(need)
	for _, c := range statsControllers {
		if slices.Contains(offered, c) && !slices.Contains(want, c) {
			want = append(want, c)
		}
	}
	enabled, err := readWords(filepath.Join(parent, "cgroup.subtree_control"))
	if err != nil {
		return nil, fmt.Errorf("read enabled controllers of %s: %w", parent, err)
	}
	var add []string
	for _, c := range want {
		if !slices.Contains(enabled, c) {
			add = append(add, c)
		}
	}
	if len(add) == 0 {
		return want, nil
	}
	// The hierarchy's root is exempt from "no internal processes".
	if parent != root {
		procs, err := readWords(filepath.Join(parent, "cgroup.procs"))
		if err != nil {
			return nil, fmt.Errorf("read processes of %s: %w", parent, err)
		}
		if len(procs) > 0 {
			for _, c := range add {
				if slices.Contains(need, c) {
					return nil, fmt.Errorf("enable the %s controller in %s: it has processes of its own, and cgroup v2's "+
						"\"no internal processes\" rule lets only a cgroup without them pass controllers to its children; "+
						"use a linux.cgroupsPath whose parent has no processes", c, parent)
				}
			}
			m.log.Debug("parent cgroup has processes of its own; statistics controllers left off",
				"parent", parent, "controllers", add)
			return slices.DeleteFunc(want, func(c string) bool { return slices.Contains(add, c) }), nil
		}
	}
	return want, m.writeSubtree(parent, add, "controllers linux.resources and the statistics need")
}

func (m *Manager) writeSubtree(dir string, ctrls []string, why string) error {
	v := "+" + strings.Join(ctrls, " +")
	err := m.writeFile(filepath.Join(dir, "cgroup.subtree_control"), v, why)
	if errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("%w (cgroup v2's \"no internal processes\" rule: %s has processes of its own)", err, dir)
	}
	return err
}

// apply writes a plan to the container's cgroup, in order.
func (m *Manager) apply(ws []Write) error {
	if m.state.Mode.v1() {
		return m.applyV1(ws)
	}
	for _, w := range ws {
		if err := m.writeFile(filepath.Join(m.state.Dirs[""], w.File), w.Value, w.From); err != nil {
			return err
		}
	}
	return nil
}

// writeFile writes value to an existing cgroup file with a single write(2),
// and logs it first. It never creates a file: in a cgroup, a missing file
// means a controller is not enabled, and creating it would hide that.
func (m *Manager) writeFile(path, value, from string) error {
	m.log.Debug(fmt.Sprintf("write %q to %s (%s)", value, path, from))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err == nil {
		_, err = f.WriteString(value)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	switch {
	case err == nil:
		if m.ex.Enabled() {
			m.ex.Step(explain.Step{
				Phase:  explain.PhaseCgroup,
				Text:   fmt.Sprintf("write %q to %s  (%s)", value, path, from),
				Man:    "cgroups(7), Documentation/admin-guide/cgroup-v2.rst",
				Fields: map[string]any{"op": "write", "file": path, "value": value, "from": from},
			})
		}
		return nil
	case errors.Is(err, fs.ErrNotExist):
		// The cgroup is there but the file is not: its controller is off.
		ctrl := Write{File: filepath.Base(path)}.Controller()
		if _, serr := os.Stat(filepath.Dir(path)); serr == nil && ctrl != "" {
			return fmt.Errorf("%s: %w (is the %s controller enabled for this cgroup?)", from, err, ctrl)
		}
		return fmt.Errorf("%s: %w", from, err)
	}
	return fmt.Errorf("%s: write %q: %w", from, value, err)
}

// Enter moves a process (all its threads) into the container's cgroup, on
// v1 into every hierarchy's. On v2 prefer starting the process there with
// CLONE_INTO_CGROUP (see Dir).
func (m *Manager) Enter(pid int) error {
	for _, dir := range m.dirs() {
		if err := m.writeFile(filepath.Join(dir, "cgroup.procs"), itoa(int64(pid)), "join the container's cgroup"); err != nil {
			return err
		}
	}
	return nil
}

// EnterThread moves the calling thread, and only it, into the container's
// cgroups on a v1 host, so that a process it forks is born there: fork(2)
// copies the cgroups of the forking thread. leave moves the thread back to
// where it was. The caller holds the thread (runtime.LockOSThread) from
// before EnterThread until leave has succeeded; if EnterThread or leave
// fails, the thread may sit in some of the container's cgroups and must
// end with its goroutine rather than go back to the pool.
//
// Why not Enter(pid) after the fork: writing a pid to cgroup.procs, or
// another thread's id to tasks, takes the global cgroup_threadgroup_rwsem
// for writing, and percpu_down_write first waits for an RCU grace period:
// milliseconds on a small VM, paid on every container start. A thread that
// moves itself by writing "0" to tasks takes no such lock
// (cgroup_procs_write_start in kernel/cgroup/cgroup.c), neither on the way
// in nor on the way back. On v2, CLONE_INTO_CGROUP does better (see Dir);
// there, and for a Manager from Load, EnterThread returns ErrNotSupported.
func (m *Manager) EnterThread() (leave func() error, err error) {
	if !m.state.Mode.v1() || m.mounts == nil {
		return nil, fmt.Errorf("move a thread into the container's cgroup: %w", ErrNotSupported)
	}
	text, err := os.ReadFile("/proc/thread-self/cgroup")
	if err != nil {
		return nil, err
	}
	self, err := parseProcCgroup(string(text))
	if err != nil {
		return nil, err
	}
	var into, back []string
	for _, ctrl := range slices.Sorted(maps.Keys(m.state.Dirs)) {
		dir := m.state.Dirs[ctrl]
		h, ok := self.V1[ctrl]
		if !ok || slices.Contains(into, dir) {
			continue
		}
		into = append(into, dir)
		back = append(back, filepath.Join(m.mounts[ctrl], h.Path))
	}
	moved := 0
	leave = func() error {
		for _, dir := range back[:moved] {
			if err := m.writeFile(filepath.Join(dir, "tasks"), "0", "move the forking thread back"); err != nil {
				return err
			}
		}
		return nil
	}
	for _, dir := range into {
		if err := m.writeFile(filepath.Join(dir, "tasks"), "0", "move the forking thread into the container's cgroup"); err != nil {
			return nil, errors.Join(err, leave())
		}
		moved++
	}
	return leave, nil
}

// Update applies the fields of r that are set, and leaves the rest as it
// is. With memory.checkBeforeUpdate it first refuses a limit below the
// current usage.
func (m *Manager) Update(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	ws, err := planFor(m.state.Mode)(r)
	if err != nil {
		return err
	}
	if mem := r.Memory; mem != nil && mem.CheckBeforeUpdate != nil && *mem.CheckBeforeUpdate && mem.Limit != nil && *mem.Limit > 0 {
		file := filepath.Join(m.state.Dirs[""], "memory.current")
		if m.state.Mode.v1() {
			file = filepath.Join(m.state.Dirs["memory"], "memory.usage_in_bytes")
		}
		usage, err := readUint(file)
		if err != nil {
			return fmt.Errorf("check memory usage before update: %w", err)
		}
		if uint64(*mem.Limit) < usage {
			return fmt.Errorf("update memory limit to %d: the container uses %d bytes now (linux.resources.memory.checkBeforeUpdate)", *mem.Limit, usage)
		}
	}
	return m.apply(ws)
}

// destroyWait bounds how long Destroy retries rmdir while the last
// processes finish dying.
const destroyWait = 2 * time.Second

// Destroy removes the container's cgroup directories and any cgroups the
// container made below them. It never removes a shared parent such as
// "minirun/". A directory that is already gone is fine. The processes must
// be gone (or going: Destroy retries EBUSY for about 2 s).
func (m *Manager) Destroy() error {
	var errs []error
	for _, dir := range m.dirs() {
		errs = append(errs, m.removeTree(dir))
	}
	return errors.Join(errs...)
}

func (m *Manager) removeTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("remove cgroup: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := m.removeTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	m.log.Debug(fmt.Sprintf("rmdir %s", dir))
	var busy error
	err = poll(destroyWait, func() (bool, error) {
		err := m.rmdir(dir)
		switch {
		case err == nil || errors.Is(err, fs.ErrNotExist):
			return true, nil
		case errors.Is(err, unix.EBUSY):
			busy = err
			return false, nil
		}
		return false, err
	})
	if errors.Is(err, errTimeout) {
		return fmt.Errorf("remove cgroup: %w for %v (processes still in it?)", busy, destroyWait)
	}
	if err != nil {
		return fmt.Errorf("remove cgroup: %w", err)
	}
	return nil
}

func rmdir(dir string) error {
	if err := unix.Rmdir(dir); err != nil {
		return &os.PathError{Op: "rmdir", Path: dir, Err: err}
	}
	return nil
}
