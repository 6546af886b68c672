package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/cgroups"
	"github.com/minirun/minirun/cgroups/devices"
	"github.com/minirun/minirun/internal/explain"
)

// open locks id's state dir (how: LOCK_SH to read, LOCK_EX to change) and
// loads its record.
func (r *Runtime) open(id string, how int) (*record, *lockFile, error) {
	if err := ValidateID(id); err != nil {
		return nil, nil, err
	}
	lock, err := lockDir(r.dir(id), how)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, notExist(id)
	}
	if err != nil {
		return nil, nil, err
	}
	rec, err := r.loadRecord(id)
	if err != nil {
		lock.unlock()
		return nil, nil, err
	}
	return rec, lock, nil
}

// status derives the status from the kernel's view, never from a stored
// word that could be stale: init alive and the exec fifo still there means
// created; alive without it, running; gone (or a zombie), stopped.
func (r *Runtime) status(rec *record) Status {
	if !alive(rec.Pid, rec.PidStart) {
		r.noteExit(rec)
		return Stopped
	}
	if _, err := os.Lstat(filepath.Join(r.dir(rec.ID), fifoFile)); err == nil {
		return Created
	}
	if cg := r.cgroupOf(rec); cg != nil {
		if frozen, err := cg.Frozen(); err == nil && frozen {
			return Paused
		}
	}
	return Running
}

// noteExit records how init ended if nobody has and it can still be seen:
// a zombie's /proc/PID/stat holds its wait status until its parent (or a
// subreaper) collects it.
func (r *Runtime) noteExit(rec *record) {
	if r.loadExit(rec.ID) != nil {
		return
	}
	st, err := readProcStat(rec.Pid)
	if err != nil || st.StartTime != rec.PidStart || st.State != 'Z' {
		return
	}
	writeJSON(r.dir(rec.ID), exitFile, exitStatusOf(syscall.WaitStatus(st.ExitCode)))
}

func exitStatusOf(ws syscall.WaitStatus) ExitStatus {
	if ws.Signaled() {
		return ExitStatus{Code: 128 + int(ws.Signal()), Signal: SignalName(ws.Signal())}
	}
	return ExitStatus{Code: ws.ExitStatus()}
}

// ContainerState is what `state` and `list` show: the OCI state plus what
// minirun knows beyond it.
type ContainerState struct {
	specs.State
	Rootfs  string      `json:"rootfs"`
	Created time.Time   `json:"created"`
	Exit    *ExitStatus `json:"exit,omitempty"`
	// OOMKills counts the container's processes the OOM killer ended
	// (memory.events oom_kill), while its cgroup exists.
	OOMKills uint64 `json:"oomKills,omitempty"`
}

func (r *Runtime) stateOf(rec *record) ContainerState {
	status := r.status(rec)
	cs := ContainerState{
		State: specs.State{
			Version: specs.Version, ID: rec.ID, Status: specs.ContainerState(status),
			Bundle: rec.Bundle, Annotations: rec.Annotations,
		},
		Rootfs: rec.Rootfs, Created: rec.Created,
	}
	if status != Stopped {
		cs.Pid = rec.Pid
	} else {
		cs.Exit = r.loadExit(rec.ID)
	}
	if cg := r.cgroupOf(rec); cg != nil {
		cs.OOMKills, _ = cg.OOMKills()
	}
	return cs
}

// State reports a container's state.
func (r *Runtime) State(id string) (ContainerState, error) {
	rec, lock, err := r.open(id, unix.LOCK_SH)
	if err != nil {
		return ContainerState{}, err
	}
	defer lock.unlock()
	return r.stateOf(rec), nil
}

// List reports every container under the root, sorted by id.
func (r *Runtime) List() ([]ContainerState, error) {
	entries, err := os.ReadDir(r.Root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []ContainerState
	for _, e := range entries {
		if !e.IsDir() || ValidateID(e.Name()) != nil {
			continue
		}
		cs, err := r.State(e.Name())
		if err != nil {
			continue // being created or deleted right now
		}
		out = append(out, cs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Start lets a created container's init go on to execve the user's
// process, then runs the poststart hooks.
func (r *Runtime) Start(id string) error {
	rec, lock, err := r.open(id, unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer lock.unlock()
	return r.start(rec)
}

func (r *Runtime) start(rec *record) error {
	switch s := r.status(rec); s {
	case Created:
	case Stopped:
		return fmt.Errorf("cannot start a container that has stopped: %w", ErrNotCreated)
	case Running:
		return fmt.Errorf("cannot start an already running container: %w", ErrNotCreated)
	default:
		return fmt.Errorf("cannot start a container in %s state: %w", s, ErrNotCreated)
	}
	if err := r.openFifo(rec); err != nil {
		return err
	}
	r.Log.Debug("exec fifo opened: init goes on to execve", "id", rec.ID)
	r.Explain.Stepf(explain.PhaseExec, "execve(2), fifo(7)", "open(%s, O_RDONLY) read EOF: init's close-on-exec write end closed, so execve replaced it with the user's process", filepath.Join(r.dir(rec.ID), fifoFile))
	if h := rec.Spec.Hooks; h != nil {
		st := r.stateOf(rec).State
		st.Status = specs.StateRunning
		// Per the runtime spec a failing poststart hook is only a warning.
		if err := runHooks("poststart", h.Poststart, st); err != nil {
			r.Log.Warn(err.Error())
		}
	}
	return nil
}

// openFifo is start's half of the exec fifo: opening the read end wakes
// init, blocked opening the write end; init writes one byte, runs the
// startContainer hooks and execve's, which closes its (close-on-exec) write
// end: EOF here means the user's process runs. The open is non-blocking
// and the waits poll, so that an init that died meanwhile is noticed
// instead of waited on forever.
func (r *Runtime) openFifo(rec *record) error {
	path := filepath.Join(r.dir(rec.ID), fifoFile)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	got := false
	for {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, 100)
		if err != nil && err != unix.EINTR {
			return os.NewSyscallError("poll", err)
		}
		if n > 0 {
			var b [1]byte
			switch n, _ := unix.Read(fd, b[:]); {
			case n == 1:
				got = true
				continue
			case n == 0 && got:
				// EOF after the byte: init has exec'd.
				return os.Remove(path)
			}
		}
		if !alive(rec.Pid, rec.PidStart) {
			if got {
				// The process ran and already ended.
				return os.Remove(path)
			}
			return errors.New("container init exited before start")
		}
	}
}

// Kill sends sig to the container's init, or with all to every process in
// its cgroup.
func (r *Runtime) Kill(id string, sig unix.Signal, all bool) error {
	rec, lock, err := r.open(id, unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer lock.unlock()
	if s := r.status(rec); s == Stopped {
		return ErrNotRunning
	}
	if all {
		// SIGKILL for everyone is what cgroup.kill does, atomically, even
		// to processes forking as it goes.
		if cg := r.cgroupOf(rec); cg != nil && sig == unix.SIGKILL {
			return cg.Kill()
		}
		pids, err := r.pids(rec)
		if err != nil {
			return err
		}
		for _, pid := range pids {
			unix.Kill(pid, sig)
		}
		return nil
	}
	return signalInit(rec, sig)
}

// signalInit signals init through a pidfd, which names that process and no
// later one that might reuse its pid.
func signalInit(rec *record, sig unix.Signal) error {
	pfd, err := unix.PidfdOpen(rec.Pid, 0)
	if err != nil {
		if err == unix.ESRCH {
			return ErrNotRunning
		}
		return os.NewSyscallError("pidfd_open", err)
	}
	defer unix.Close(pfd)
	if !alive(rec.Pid, rec.PidStart) {
		return ErrNotRunning
	}
	if err := unix.PidfdSendSignal(pfd, sig, nil, 0); err != nil {
		if err == unix.ESRCH {
			return ErrNotRunning
		}
		return fmt.Errorf("signal %s: %w", SignalName(sig), err)
	}
	return nil
}

// pids lists the processes of the container: those in its cgroup, which
// also finds processes of a container that shares a pid namespace.
func (r *Runtime) pids(rec *record) ([]int, error) {
	cg := r.cgroupOf(rec)
	if cg == nil { // a record from before cgroups: init is all it knows
		if !alive(rec.Pid, rec.PidStart) {
			return nil, nil
		}
		return []int{rec.Pid}, nil
	}
	pids, err := cg.Pids()
	sort.Ints(pids)
	return pids, err
}

// Pids lists the host pids of the container's processes.
func (r *Runtime) Pids(id string) ([]int, error) {
	rec, lock, err := r.open(id, unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer lock.unlock()
	return r.pids(rec)
}

// Delete removes a stopped (or, with force, any) container: it kills what
// is left, runs the poststop hooks and removes the state.
func (r *Runtime) Delete(id string, force bool) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	lock, err := lockDir(r.dir(id), unix.LOCK_EX)
	if errors.Is(err, fs.ErrNotExist) {
		if force {
			return nil // runc: deleting what is not there, by force, is done
		}
		return notExist(id)
	}
	if err != nil {
		return err
	}
	defer lock.unlock()
	rec, err := r.loadRecord(id)
	if errors.Is(err, ErrNotExist) {
		// A create that crashed before writing its record: nothing of
		// the container runs, but its cgroup may exist.
		if err := r.removeOrphanCgroup(r.dir(id)); err != nil {
			return err
		}
		return os.RemoveAll(r.dir(id))
	}
	if err != nil {
		return err
	}
	return r.destroy(rec, force)
}

func (r *Runtime) destroy(rec *record, force bool) error {
	cg := r.cgroupOf(rec)
	switch s := r.status(rec); s {
	case Running, Paused:
		if !force {
			return fmt.Errorf("cannot delete container %s that is not stopped: %s (use --force): %w", rec.ID, s, ErrRunning)
		}
		fallthrough
	case Created:
		// Killing pid 1 of a pid namespace kills every process in it; the
		// cgroup's kill also reaches a container that shares a pid
		// namespace, and frozen processes.
		if cg != nil {
			if err := cg.Kill(); err != nil {
				return err
			}
		} else if err := signalInit(rec, unix.SIGKILL); err != nil && !errors.Is(err, ErrNotRunning) {
			return err
		}
		if err := waitGone(rec, 10*time.Second); err != nil {
			return err
		}
		r.Explain.Stepf(explain.PhaseTeardown, "pid_namespaces(7), kill(2)", "SIGKILL to every process of the container (pid %d is gone): its namespaces go with the last of them", rec.Pid)
	}
	if cg != nil {
		// Left over processes of a stopped container (its init was not
		// pid 1 of its own namespace), then the cgroup itself.
		cg.Kill()
		if err := cg.Destroy(); err != nil {
			return fmt.Errorf("remove cgroup: %w", err)
		}
		if rec.Spec.Linux == nil || rec.Spec.Linux.CgroupsPath == "" {
			removeDefaultParents(cg.State())
		}
		if r.Explain.Enabled() {
			var dirs []string
			for _, d := range cg.State().Dirs {
				dirs = append(dirs, d)
			}
			sort.Strings(dirs)
			r.Explain.Stepf(explain.PhaseTeardown, "cgroups(7), rmdir(2)", "rmdir %s: an empty cgroup is removed like a directory", strings.Join(dirs, " "))
		}
	}
	if h := rec.Spec.Hooks; h != nil {
		st := r.stateOf(rec).State
		st.Status = specs.StateStopped
		if err := runHooks("poststop", h.Poststop, st); err != nil {
			r.Log.Warn(err.Error())
		}
	}
	r.Log.Debug("container deleted", "id", rec.ID)
	if err := os.RemoveAll(r.dir(rec.ID)); err != nil {
		return err
	}
	r.Explain.Stepf(explain.PhaseTeardown, "rmdir(2)", "state directory %s removed", r.dir(rec.ID))
	return nil
}

// waitGone waits until init has exited. It cannot wait(2) for it (it is
// not our child), but a pidfd polls readable once the process exits.
func waitGone(rec *record, timeout time.Duration) error {
	pfd, err := unix.PidfdOpen(rec.Pid, 0)
	if err == unix.ESRCH {
		return nil
	}
	if err != nil {
		return os.NewSyscallError("pidfd_open", err)
	}
	defer unix.Close(pfd)
	if !alive(rec.Pid, rec.PidStart) {
		return nil
	}
	fds := []unix.PollFd{{Fd: int32(pfd), Events: unix.POLLIN}}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		n, err := unix.Poll(fds, int(time.Until(deadline)/time.Millisecond)+1)
		if err == unix.EINTR {
			continue
		}
		if n > 0 {
			return nil
		}
	}
	return fmt.Errorf("container %s: init (pid %d) did not exit within %s", rec.ID, rec.Pid, timeout)
}

// Pause freezes every process of the container (cgroup.freeze).
func (r *Runtime) Pause(id string) error {
	rec, lock, err := r.open(id, unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer lock.unlock()
	cg := r.cgroupOf(rec)
	switch s := r.status(rec); {
	case cg == nil:
		return fmt.Errorf("container %s has no cgroup to freeze", id)
	case s != Running && s != Created:
		return fmt.Errorf("cannot pause a container in %s state: %w", s, ErrNotRunning)
	}
	return cg.Freeze()
}

// Resume thaws a paused container.
func (r *Runtime) Resume(id string) error {
	rec, lock, err := r.open(id, unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer lock.unlock()
	if s := r.status(rec); s != Paused {
		return fmt.Errorf("container %s is not paused (%s)", id, s)
	}
	return r.cgroupOf(rec).Thaw()
}

// Update changes the resource limits of a live container: only the
// fields set in res.
func (r *Runtime) Update(id string, res *specs.LinuxResources) error {
	rec, lock, err := r.open(id, unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer lock.unlock()
	cg := r.cgroupOf(rec)
	if cg == nil || r.status(rec) == Stopped {
		return fmt.Errorf("cannot update container %s: %w", id, ErrNotRunning)
	}
	if err := cg.Update(res); err != nil {
		return err
	}
	if len(res.Devices) > 0 && cg.Dir() != "" {
		// On v2 the device rules are a program, replaced whole: the new
		// rules, then the defaults, as at create.
		s := *rec.Spec
		l := *s.Linux
		l.Resources = res
		s.Linux = &l
		return devices.Attach(cg.Dir(), resourcesOf(&s).Devices)
	}
	return nil
}

// Stats reports the container's resource usage from its cgroup.
func (r *Runtime) Stats(id string) (*cgroups.Stats, error) {
	rec, lock, err := r.open(id, unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer lock.unlock()
	cg := r.cgroupOf(rec)
	if cg == nil || r.status(rec) == Stopped {
		return nil, fmt.Errorf("container %s: %w", id, ErrNotRunning)
	}
	return cg.Stats()
}
