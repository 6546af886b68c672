package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The cgroup v1 fallback: one directory per hierarchy, the same relative
// path in each. v1 has no "no internal processes" rule and no
// subtree_control: a new cgroup has every controller of its hierarchy.

// createV1 makes the container's directory in every hierarchy it uses.
func (m *Manager) createV1(made *[]string) error {
	for _, ctrl := range slices.Sorted(maps.Keys(m.state.Dirs)) {
		dir := m.state.Dirs[ctrl]
		if slices.Contains(*made, dir) {
			continue // co-mounted with a controller already done ("cpu,cpuacct")
		}
		levels, first, err := missing(m.mounts[ctrl], dir)
		if err != nil {
			return err
		}
		for i := first; i < len(levels); i++ {
			if err := m.mkdirLevel(levels[i], i == len(levels)-1, made); err != nil {
				return err
			}
		}
		if ctrl == "cpuset" {
			// Every level, not only those made here: another minirun
			// may have just made "minirun/" and not yet filled it in,
			// and an empty parent would be copied as empty.
			for _, l := range levels {
				if err := m.inheritCpuset(l); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// inheritCpuset copies cpuset.cpus and cpuset.mems from the parent into a
// new v1 cpuset cgroup, which starts with both empty and refuses tasks
// (ENOSPC) until they are set. (cgroup.clone_children would copy them, but
// it is a setting of the parent, which minirun does not own.)
func (m *Manager) inheritCpuset(dir string) error {
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		own, err := readString(filepath.Join(dir, f))
		if err != nil {
			return err
		}
		if own != "" {
			continue
		}
		parent, err := readString(filepath.Join(filepath.Dir(dir), f))
		if err != nil {
			return err
		}
		from := "copied from the parent: a new v1 cpuset takes no tasks while empty"
		if err := m.writeFile(filepath.Join(dir, f), parent, from); err != nil {
			return err
		}
	}
	return nil
}

// applyV1 writes a v1 plan. memory.limit_in_bytes may never exceed
// memory.memsw.limit_in_bytes, so when a new limit is above the current
// memory+swap limit, the memsw write goes first.
func (m *Manager) applyV1(ws []Write) error {
	ws = slices.Clone(ws)
	li := slices.IndexFunc(ws, func(w Write) bool { return w.File == "memory/memory.limit_in_bytes" })
	si := slices.IndexFunc(ws, func(w Write) bool { return w.File == "memory/memory.memsw.limit_in_bytes" })
	if li >= 0 && si > li {
		cur, err := readUint(filepath.Join(m.state.Dirs["memory"], "memory.memsw.limit_in_bytes"))
		newLimit, _ := strconv.ParseInt(ws[li].Value, 10, 64)
		if err == nil && (newLimit == -1 || uint64(newLimit) > cur) {
			ws[li], ws[si] = ws[si], ws[li]
		}
	}
	for _, w := range ws {
		ctrl, file, _ := strings.Cut(w.File, "/")
		dir, ok := m.state.Dirs[ctrl]
		if !ok {
			return fmt.Errorf("%s: this container has no %s cgroup (the hierarchy was not mounted when it was created)", w.From, ctrl)
		}
		err := m.writeFile(filepath.Join(dir, file), w.Value, w.From)
		if err != nil && file == "memory.memsw.limit_in_bytes" && errors.Is(err, fs.ErrNotExist) {
			if w.Value == "-1" {
				// Unlimited swap is what a kernel without swap accounting
				// gives anyway.
				m.log.Debug("no memory.memsw.limit_in_bytes (swap accounting off); unlimited swap needs no write")
				continue
			}
			return fmt.Errorf("%s: this kernel does not account swap (no memory.memsw.limit_in_bytes; boot with swapaccount=1)", w.From)
		}
		if err != nil && file == "memory.limit_in_bytes" && si < 0 && errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("%w (a memory limit may not exceed memory.memsw.limit_in_bytes: set linux.resources.memory.swap too)", err)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) freezerDir() (string, error) {
	dir, ok := m.state.Dirs["freezer"]
	if !ok {
		return "", errors.New("freeze: the v1 freezer controller is not mounted")
	}
	return dir, nil
}

func (m *Manager) freezerState() (string, error) {
	dir, err := m.freezerDir()
	if err != nil {
		return "", err
	}
	return readString(filepath.Join(dir, "freezer.state"))
}

// freezeV1 writes FROZEN or THAWED to freezer.state and waits until the
// state reads back the same: FREEZING means some task has not stopped yet.
func (m *Manager) freezeV1(on bool) error {
	dir, err := m.freezerDir()
	if err != nil {
		return err
	}
	want, why := "THAWED", "thaw"
	if on {
		want, why = "FROZEN", "freeze"
	}
	file := filepath.Join(dir, "freezer.state")
	err = poll(m.wait, func() (bool, error) {
		// Writing again is how v1 retries tasks that were busy the
		// first time.
		if err := m.writeFile(file, want, why); err != nil {
			return false, err
		}
		s, err := readString(file)
		return s == want, err
	})
	if err != nil && on {
		_ = m.writeFile(file, "THAWED", "undo a freeze that did not finish")
	}
	if err != nil {
		return fmt.Errorf("wait for %s to read %s: %w", file, want, err)
	}
	return nil
}

// killV1 freezes the cgroup, sends SIGKILL to every process, and thaws it
// so the signals are delivered, until no live process is left. Freezing
// first keeps a fork bomb from growing between reading cgroup.procs and
// signalling.
func (m *Manager) killV1() error {
	_, err := m.freezerDir()
	freezer := err == nil
	return poll(m.wait, func() (bool, error) {
		if freezer {
			if err := m.freezeV1(true); err != nil {
				m.log.Debug("kill without freezing first", "err", err)
			}
		}
		done, err := m.killListed()
		if freezer {
			if terr := m.freezeV1(false); err == nil {
				err = terr
			}
		}
		return done, err
	})
}
