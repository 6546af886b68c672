package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Operations on a container that runs: freeze, kill, list, count.

// Freeze stops every process of the container and waits until the kernel
// reports the cgroup frozen. If that takes longer than a few seconds it
// thaws the cgroup again and fails.
func (m *Manager) Freeze() error {
	if m.state.Mode.v1() {
		return m.freezeV1(true)
	}
	return m.freezeV2(true)
}

// Thaw lets a frozen container run again and waits until it does.
func (m *Manager) Thaw() error {
	if m.state.Mode.v1() {
		return m.freezeV1(false)
	}
	return m.freezeV2(false)
}

func (m *Manager) freezeV2(on bool) error {
	dir, v, why := m.state.Dirs[""], "0", "thaw"
	if on {
		v, why = "1", "freeze"
	}
	if err := m.writeFile(filepath.Join(dir, "cgroup.freeze"), v, why); err != nil {
		return err
	}
	err := poll(m.wait, func() (bool, error) {
		frozen, err := m.Frozen()
		return frozen == on, err
	})
	if err != nil && on {
		_ = m.writeFile(filepath.Join(dir, "cgroup.freeze"), "0", "undo a freeze that did not finish")
	}
	if err != nil {
		return fmt.Errorf("wait for %s/cgroup.events to show frozen %s: %w", dir, v, err)
	}
	return nil
}

// Frozen reports whether the kernel has frozen the container: "frozen 1"
// in cgroup.events on v2, FROZEN in freezer.state on v1.
func (m *Manager) Frozen() (bool, error) {
	if m.state.Mode.v1() {
		s, err := m.freezerState()
		return s == "FROZEN", err
	}
	kv, err := readKV(filepath.Join(m.state.Dirs[""], "cgroup.events"))
	return kv["frozen"] == 1, err
}

// Kill sends SIGKILL to every process in the container's cgroup and in the
// cgroups below it. On v2 that is one write to cgroup.kill (Linux 5.14);
// without it, and on v1, Kill signals what cgroup.procs lists until no
// live process is left (on v1 with the cgroup frozen, so nothing forks in
// between).
func (m *Manager) Kill() error {
	if _, err := os.Stat(m.procsDir()); errors.Is(err, fs.ErrNotExist) {
		return nil // no cgroup, no processes
	}
	if m.state.Mode.v1() {
		return m.killV1()
	}
	err := m.writeFile(filepath.Join(m.state.Dirs[""], "cgroup.kill"), "1", "kill every process")
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	m.log.Debug("no cgroup.kill (Linux < 5.14): signalling each process")
	return poll(m.wait, m.killListed)
}

// killListed sends SIGKILL to every live process in the cgroup and reports
// whether there was none.
func (m *Manager) killListed() (bool, error) {
	pids, err := m.Pids()
	if err != nil {
		return false, err
	}
	live := 0
	for _, pid := range pids {
		if !alive(pid) {
			continue
		}
		live++
		if err := unix.Kill(pid, unix.SIGKILL); err != nil && err != unix.ESRCH {
			return false, os.NewSyscallError("kill", err)
		}
	}
	return live == 0, nil
}

// alive reports whether pid is a process that has not exited. Linux takes
// a process out of cgroup.procs when it exits, before it is reaped, but a
// listing can race with that; a zombie (state Z or X in /proc/PID/stat)
// needs no more signals.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	return b[i+2] != 'Z' && b[i+2] != 'X'
}

// Pids lists the processes in the container's cgroup and the cgroups
// below it.
func (m *Manager) Pids() ([]int, error) {
	var pids []int
	top := m.procsDir()
	err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			var ws []string
			ws, err = readWords(filepath.Join(p, "cgroup.procs"))
			for _, w := range ws {
				if pid, err := strconv.Atoi(w); err == nil {
					pids = append(pids, pid)
				}
			}
		}
		if err != nil && p != top && errors.Is(err, fs.ErrNotExist) {
			return nil // a child cgroup removed while we looked
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list processes of cgroup: %w", err)
	}
	slices.Sort(pids)
	return slices.Compact(pids), nil
}

// procsDir is the directory whose cgroup.procs lists the container's
// processes: on v1 every hierarchy holds the same ones after Enter, and
// freezer is the one Kill works in.
func (m *Manager) procsDir() string {
	if !m.state.Mode.v1() {
		return m.state.Dirs[""]
	}
	if dir, ok := m.state.Dirs["freezer"]; ok {
		return dir
	}
	if dirs := m.dirs(); len(dirs) > 0 {
		return dirs[0]
	}
	return ""
}

// OOMKills returns how many processes the OOM killer has killed in the
// container's cgroup: oom_kill of memory.events on v2 and of
// memory.oom_control on v1. Without the memory controller it is 0.
func (m *Manager) OOMKills() (uint64, error) {
	file := filepath.Join(m.state.Dirs[""], "memory.events")
	if m.state.Mode.v1() {
		dir, ok := m.state.Dirs["memory"]
		if !ok {
			return 0, nil
		}
		file = filepath.Join(dir, "memory.oom_control")
	}
	kv, err := readKV(file)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	return kv["oom_kill"], err
}

// errTimeout is what poll returns when the condition never held.
var errTimeout = errors.New("timed out")

// poll calls done until it reports true or fails, for at most limit,
// sleeping a few milliseconds in between: the kernel finishes freezing,
// killing and emptying a cgroup asynchronously.
func poll(limit time.Duration, done func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := done()
		if ok || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w after %v", errTimeout, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
