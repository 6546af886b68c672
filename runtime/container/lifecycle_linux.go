package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/runtime"
	"github.com/minirun/minirun/runtime/spec"
)

// Status is the truth about a container: its record as last written, set
// right when the writer (a monitor, a foreground run) was killed before it
// could say the container exited.
func (m *Manager) Status(r *Record) State {
	st := r.State
	if st.Status != StatusRunning {
		return st
	}
	cs, err := m.rt.State(r.ID)
	if err == nil && (cs.Status == "running" || cs.Status == "paused" || cs.Status == "created") {
		return st
	}
	// The process is gone. Its monitor may have recorded how it ended
	// since r was read, or, still alive, be doing so right now: read the
	// record again, for as long as that monitor lives.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		cur, err := m.Load(r.ID)
		if err != nil {
			break
		}
		if cur.State.Status != StatusRunning {
			return cur.State
		}
		if !alive(r.State.MonitorPid) || r.State.MonitorPid == os.Getpid() || time.Now().After(deadline) {
			break
		}
	}
	if cs2, err2 := m.rt.State(r.ID); err2 == nil {
		cs, err = cs2, nil
	}
	st.Status = StatusExited
	st.Pid = 0
	if err == nil && cs.Exit != nil {
		st.ExitCode = cs.Exit.Code
	} else {
		st.ExitCode = 255 // how it ended went unrecorded
		st.Error = "the container's monitor was killed; its exit status is unknown"
	}
	if st.FinishedAt.IsZero() {
		st.FinishedAt = time.Now().UTC()
	}
	return st
}

// Running reports whether r's process runs.
func (m *Manager) Running(r *Record) bool { return m.Status(r).Status == StatusRunning }

// Signal sends sig to the container's init (docker kill).
func (m *Manager) Signal(r *Record, sig unix.Signal) error {
	if !m.Running(r) {
		return fmt.Errorf("container %s is not running", r.Name)
	}
	return m.rt.Kill(r.ID, sig, false)
}

// Stop sends the stop signal, waits up to timeout for the container to
// exit, then kills every process in it.
func (m *Manager) Stop(r *Record, timeout time.Duration) error {
	if !m.Running(r) {
		return nil
	}
	sig := unix.SIGTERM
	if r.Options.StopSignal != "" {
		s, err := runtime.ParseSignal(r.Options.StopSignal)
		if err != nil {
			return err
		}
		sig = s
	}
	if timeout < 0 {
		timeout = 10 * time.Second
		if r.Options.StopTimeout > 0 {
			timeout = time.Duration(r.Options.StopTimeout) * time.Second
		}
	}
	if err := m.rt.Kill(r.ID, sig, false); err != nil && !errors.Is(err, runtime.ErrNotRunning) {
		return err
	}
	if m.waitExit(r, timeout) {
		return nil
	}
	if err := m.rt.Kill(r.ID, unix.SIGKILL, true); err != nil && !errors.Is(err, runtime.ErrNotRunning) {
		return err
	}
	if !m.waitExit(r, 10*time.Second) {
		return fmt.Errorf("container %s did not exit after SIGKILL", r.Name)
	}
	return nil
}

// waitExit polls until the container has exited and its monitor (or
// foreground run) has recorded it, or d passes.
func (m *Manager) waitExit(r *Record, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		cur, err := m.Load(r.ID)
		if err != nil {
			return true // removed (--rm)
		}
		st := m.Status(cur)
		if st.Status != StatusRunning && (cur.State.Status != StatusRunning || !alive(cur.State.MonitorPid)) {
			*r = *cur
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid exists (a zombie counts as gone).
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// Wait blocks until the container exits and returns its exit code.
func (m *Manager) Wait(ctx context.Context, r *Record) (int, error) {
	for {
		if m.waitExit(r, 200*time.Millisecond) {
			return m.Status(r).ExitCode, nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
	}
}

// Remove deletes a container: refused while it runs unless force, which
// kills it first. Its runtime state, cgroup, writable layer, anonymous
// volumes and log all go.
func (m *Manager) Remove(r *Record, force bool) error {
	if m.Running(r) {
		if !force {
			return fmt.Errorf("%w: %s (stop it first, or use -f)", ErrRunning, r.Name)
		}
		if err := m.rt.Kill(r.ID, unix.SIGKILL, true); err != nil && !errors.Is(err, runtime.ErrNotRunning) {
			return err
		}
		m.waitExit(r, 10*time.Second)
	}
	if err := m.rt.Delete(r.ID, true); err != nil && !errors.Is(err, runtime.ErrNotExist) {
		return err
	}
	if err := m.netRemove(r); err != nil {
		return err
	}
	m.removeDir(r.ID)
	return nil
}

// Start runs a stopped container again, under a monitor, with the same
// writable layer.
func (m *Manager) Start(r *Record) error {
	if m.Running(r) {
		return nil
	}
	// A monitor killed before the end leaves the runtime's state behind.
	if err := m.rt.Delete(r.ID, true); err != nil && !errors.Is(err, runtime.ErrNotExist) {
		return err
	}
	return m.startMonitor(r)
}

// Exec runs a process in a running container, docker style: user names
// resolved in the image's /etc/passwd, the container's env as the base.
func (m *Manager) Exec(r *Record, o runtime.ExecOpts) (runtime.ExitStatus, error) {
	if !m.Running(r) {
		return runtime.ExitStatus{}, fmt.Errorf("container %s is not running", r.Name)
	}
	return m.rt.Exec(r.ID, o)
}

// Pids lists the container's processes (host pids).
func (m *Manager) Pids(r *Record) ([]int, error) {
	if !m.Running(r) {
		return nil, fmt.Errorf("container %s is not running", r.Name)
	}
	return m.rt.Pids(r.ID)
}

// LogPath is the container's log file.
func (m *Manager) LogPath(r *Record) string { return m.path(r.ID, "log.json") }

// GCReport says what GC removed.
type GCReport struct {
	Containers []string // removed containers (--rm ones whose monitor died)
	States     []string // runtime states of exited containers
	Dirs       []string // half-made container directories
	Networks   []string // containers whose leases, rules or veths went
}

// GC removes what crashes left: the runtime state (and so the cgroup) of
// every container that exited without its monitor noticing, containers
// that asked for --rm, and directories of containers never finished.
func (m *Manager) GC() (*GCReport, error) {
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	rep := &GCReport{}
	ents, err := os.ReadDir(m.dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		r, err := m.Load(e.Name())
		if err != nil {
			if info, ierr := e.Info(); ierr == nil && time.Since(info.ModTime()) > time.Minute {
				os.RemoveAll(filepath.Join(m.dir, e.Name()))
				rep.Dirs = append(rep.Dirs, e.Name())
			}
			continue
		}
		st := m.Status(r)
		if st.Status == StatusRunning || alive(r.State.MonitorPid) || alive(r.Network.Holder) {
			continue
		}
		// Delete also finds the cgroup of a create killed before the
		// runtime wrote its record (State does not see that one).
		_, serr := m.rt.State(r.ID)
		if err := m.rt.Delete(r.ID, true); err == nil && serr == nil {
			rep.States = append(rep.States, r.Name)
		}
		if r.State.Status == StatusRunning {
			m.update(r.ID, func(r *Record) { r.State = st })
		}
		if r.Options.AutoRemove {
			m.removeDir(r.ID)
			rep.Containers = append(rep.Containers, r.Name)
		}
	}
	// After the records: a lease whose container went above is released
	// now, not by the next gc.
	nets, err := m.netGC(context.Background())
	rep.Networks = nets
	return rep, err
}

// ExecFlags adapts exec's flags to an image container, as docker exec
// does: a user given by name is looked up in the image's /etc/passwd, and
// stdin is /dev/null unless interactive.
func (m *Manager) ExecFlags(r *Record, o *runtime.ExecOpts, interactive bool) error {
	if u := o.Flags.User; u != "" && o.Process == nil {
		im, err := m.store.Get(string(r.Manifest))
		if err != nil {
			im, err = m.store.Get(r.Image)
		}
		if err != nil {
			return fmt.Errorf("exec -u %s: the image's /etc/passwd is not at hand: %w", u, err)
		}
		view, err := m.store.RootFS(im)
		if err != nil {
			return err
		}
		user, err := spec.ResolveUser(view, u)
		if err != nil {
			return err
		}
		o.Flags.User = fmt.Sprintf("%d:%d", user.UID, user.GID)
		o.Flags.AdditionalGids = append(o.Flags.AdditionalGids, user.AdditionalGids...)
	}
	if !interactive && o.Stdio.Stdin == nil {
		devnull, err := os.Open(os.DevNull)
		if err != nil {
			return err
		}
		o.Stdio.Stdin = devnull // closed with the process
	}
	return nil
}
