package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/runtime/spec"
)

// ExecOpts are exec's flags. Process, when set (exec --process FILE), is
// the whole process; otherwise the container's own process with Flags
// applied is run.
type ExecOpts struct {
	Process       *specs.Process
	Flags         ExecFlags
	PidFile       string
	ConsoleSocket string
	Detach        bool
	PreserveFDs   int
	Stdio         Stdio
}

// Exec starts a process in a created or running container and, unless
// detached, waits for it and returns how it ended.
func (r *Runtime) Exec(id string, o ExecOpts) (ExitStatus, error) {
	tty := o.Flags.TTY
	if o.Process != nil {
		tty = o.Process.Terminal
	}
	switch {
	case tty && o.Detach && o.ConsoleSocket == "":
		return ExitStatus{}, errors.New("--tty with --detach needs --console-socket to receive the pty")
	case !tty && o.ConsoleSocket != "":
		return ExitStatus{}, errors.New("--console-socket given without a terminal")
	}
	var sigs chan os.Signal
	if !o.Detach {
		// Before the process runs: see Run.
		sigs = catchSignals()
		defer signal.Stop(sigs)
	}
	c, err := r.startExec(id, o)
	if err != nil {
		return ExitStatus{}, err
	}
	defer c.close()
	if o.Detach {
		return ExitStatus{}, nil
	}
	return r.wait(c, o.Stdio, sigs), nil
}

func (r *Runtime) startExec(id string, o ExecOpts) (_ *child, err error) {
	if err := checkPreserved(o.PreserveFDs); err != nil {
		return nil, err
	}
	rec, lock, err := r.open(id, unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer lock.unlock()
	if s := r.status(rec); s == Stopped {
		return nil, fmt.Errorf("cannot exec in a stopped container: %w", ErrNotRunning)
	}
	p := o.Process
	if p == nil {
		if p, err = ExecProcess(rec.Spec.Process, o.Flags); err != nil {
			return nil, err
		}
	}
	if err := spec.ValidateProcess(p); err != nil {
		return nil, err
	}
	// Open the container's namespaces and root while /proc/PID is init;
	// alive() after opening proves the pid was not reused in between.
	proc := "/proc/" + strconv.Itoa(rec.Pid)
	var joins []nsJoin
	defer func() { closeJoins(joins) }()
	var mountNS, cgroupNS, root *os.File
	defer func() {
		mountNS.Close()
		cgroupNS.Close()
		root.Close()
	}()
	for _, ns := range rec.Spec.Linux.Namespaces {
		if ns.Type == specs.UserNamespace {
			// setns(2) refuses to move a multithreaded process into a user
			// namespace, and every Go process is one.
			return nil, fmt.Errorf("exec into a container with a user namespace: %w", ErrUnsupported)
		}
		kind := nsKinds[ns.Type]
		f, err := os.Open(proc + "/ns/" + kind.proc)
		if err != nil {
			return nil, fmt.Errorf("open %s namespace of container: %w", ns.Type, err)
		}
		if ns.Type == specs.MountNamespace {
			mountNS = f
			continue
		}
		if ns.Type == specs.CgroupNamespace {
			// Joined by the process itself, once it is in the container's
			// cgroup: with the cgroup2 mount option nsdelegate, clone3
			// refuses (ENOENT) to put a child into a cgroup from a
			// thread whose cgroup namespace does not see where it is.
			cgroupNS = f
			continue
		}
		joins = append(joins, nsJoin{fd: f, flag: int(kind.flag), what: string(ns.Type) + " of " + rec.ID})
	}
	if root, err = os.OpenFile(proc+"/root", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
		return nil, fmt.Errorf("open container root: %w", err)
	}
	if !alive(rec.Pid, rec.PidStart) {
		return nil, ErrNotRunning
	}

	cfg := &initConfig{
		Mode:        "exec",
		Spec:        rec.Spec,
		Process:     p,
		PreserveFDs: o.PreserveFDs,
		Debug:       r.Log.Enabled(context.Background(), slog.LevelDebug),
		Explain:     r.Explain.Enabled(),
	}
	// The exec'd process gets the container's filter too, as in runc:
	// without it, exec would be a way around the profile.
	if cfg.Seccomp, err = r.compileSeccomp(rec.Spec); err != nil {
		return nil, err
	}
	st := r.stateOf(rec).State
	extra := []*os.File{root}
	if mountNS != nil {
		extra = []*os.File{mountNS, root}
	}
	if cgroupNS != nil {
		extra = append(extra, cgroupNS)
	}
	// The process joins the container's cgroup: born in it where clone3
	// can, else moved in before it is sent its config.
	sys := &syscall.SysProcAttr{}
	cg := r.cgroupOf(rec)
	if cg != nil && cg.Dir() != "" {
		dir, err := os.OpenFile(cg.Dir(), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		defer dir.Close()
		sys.UseCgroupFD, sys.CgroupFD = true, int(dir.Fd())
	}
	c, fds, err := r.startInit(cfg, &st, o.Stdio, o.PreserveFDs, extra, sys, joins, nil)
	if err != nil && sys.UseCgroupFD && cloneIntoCgroupUnsupported(err) {
		sys.UseCgroupFD = false
		c, fds, err = r.startInit(cfg, &st, o.Stdio, o.PreserveFDs, extra, sys, joins, nil)
	}
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c.kill()
			c.close()
		}
	}()
	if cg != nil && !sys.UseCgroupFD {
		if err := cg.Enter(c.cmd.Process.Pid); err != nil {
			return nil, fmt.Errorf("move process into the container's cgroup: %w", err)
		}
	}
	if mountNS != nil {
		cfg.MountNS, cfg.RootFD = fds[0], fds[1]
	} else {
		cfg.RootFD = fds[0]
	}
	if cgroupNS != nil {
		cfg.CgroupNS = fds[len(fds)-1]
	}
	if err := r.handshake(c, cfg, st, o.ConsoleSocket); err != nil {
		return nil, err
	}
	if err := r.awaitExec(c); err != nil {
		return nil, err
	}
	if err := writePidFile(o.PidFile, c.cmd.Process.Pid); err != nil {
		return nil, err
	}
	return c, nil
}
