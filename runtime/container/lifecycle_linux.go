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
	switch st.Status {
	case StatusCreated:
		return m.createdStatus(r)
	case StatusRunning:
	default:
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

// createdStatus is Status for a record that says created: the runtime
// knows better once a run got as far as the runtime and was killed before
// it recorded the container running (or exited).
func (m *Manager) createdStatus(r *Record) State {
	st := r.State
	cs, err := m.rt.State(r.ID)
	if err != nil {
		return st // never started
	}
	switch cs.Status {
	case "running", "paused":
		st.Status, st.Pid = StatusRunning, cs.Pid
	case "stopped":
		st.Status, st.Pid = StatusExited, 0
		if cs.Exit != nil {
			st.ExitCode = cs.Exit.Code
		} else {
			st.ExitCode = 255
			st.Error = "the process that ran the container was killed; its exit status is unknown"
		}
		if st.FinishedAt.IsZero() {
			st.FinishedAt = time.Now().UTC()
		}
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
	// Held while it goes, as a run holds it, so that neither a start nor
	// gc acts on it halfway. A directory already gone (a --rm
	// container's monitor removed it) has none to take.
	if held, err := m.waitRun(r.ID); err == nil {
		defer held.Close()
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
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
	held, err := m.waitRun(r.ID)
	if err != nil {
		return err
	}
	defer held.Close()
	// Whoever held it may have started it meanwhile.
	cur, err := m.Load(r.ID)
	if err != nil {
		return err
	}
	*r = *cur
	if m.Running(r) {
		return nil
	}
	// A monitor killed before the end leaves the runtime's state behind.
	if err := m.rt.Delete(r.ID, true); err != nil && !errors.Is(err, runtime.ErrNotExist) {
		return err
	}
	return m.startMonitor(r, held)
}

// waitRun takes the run lock of a container that does not run, waiting a
// little for its holder: a monitor still finishing, or gc at work.
func (m *Manager) waitRun(id string) (*os.File, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		// O_CREATE: a container made before run locks existed has none.
		f, err := m.lockRun(id, unix.LOCK_EX|unix.LOCK_NB, os.O_CREATE)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock container %s: %w", shortID(id), err)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("container %s is busy: another minirun process runs it", shortID(id))
		}
		time.Sleep(10 * time.Millisecond)
	}
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
// that asked for --rm, directories of containers never finished, the
// state of creates killed before their record, and network leases and
// rules no live container holds.
//
// It is safe at any time: a container whose run lock is held (its run is
// under way, or its monitor lives) is left alone, whatever its record
// says, and so is one that still runs. GC holds the store's lock, under
// which containers are made, and each container's run lock while it acts
// on it, so that nobody starts it meanwhile.
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
		if e.IsDir() {
			m.gcOne(e.Name(), rep)
		}
	}
	states, err := m.rt.GC()
	rep.States = append(rep.States, states...)
	if err != nil {
		return rep, err
	}
	// After the records: a lease whose container went above is released
	// now, not by the next gc.
	nets, err := m.netGC(context.Background())
	rep.Networks = nets
	return rep, err
}

// gcOne is GC for the directory name of the store's containers; the
// store's lock is held.
func (m *Manager) gcOne(name string, rep *GCReport) {
	dir := filepath.Join(m.dir, name)
	held, err := m.lockRun(name, unix.LOCK_EX|unix.LOCK_NB, 0)
	switch {
	case err == nil:
		defer held.Close()
	case errors.Is(err, unix.EWOULDBLOCK):
		return // its run is under way: the holder cleans up after it
	case !errors.Is(err, os.ErrNotExist):
		return
	}
	if strings.HasPrefix(name, removingPrefix) {
		if held == nil {
			// The remover takes the lock file last: it is at its
			// final rmdir(2), or died there.
			os.Remove(dir)
			return
		}
		// Its remover died: finish the job.
		os.RemoveAll(dir)
		rep.Dirs = append(rep.Dirs, name)
		return
	}
	r, err := m.Load(name)
	if err != nil {
		if _, serr := os.Lstat(dir); serr != nil {
			return // removed since gc listed it
		}
		// Containers are made under the store's lock, held here: a
		// directory without a record is one whose making died.
		os.RemoveAll(dir)
		rep.Dirs = append(rep.Dirs, name)
		return
	}
	st := m.Status(r)
	if st.Status == StatusRunning {
		return // its holder died, but it runs: stop and rm are for it
	}
	// Delete also finds the cgroup of a create killed before the
	// runtime wrote its record (State does not see that one).
	_, serr := m.rt.State(r.ID)
	if err := m.rt.Delete(r.ID, true); err == nil && serr == nil {
		rep.States = append(rep.States, r.Name)
	}
	if st.Status != r.State.Status {
		m.update(r.ID, func(r *Record) { r.State = st })
	}
	if r.Options.AutoRemove {
		m.removeDir(r.ID)
		rep.Containers = append(rep.Containers, r.Name)
	}
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
