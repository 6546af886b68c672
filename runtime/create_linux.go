package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/cgroups"
	"github.com/minirun/minirun/internal/crashpoint"
	"github.com/minirun/minirun/rootfs"
	"github.com/minirun/minirun/runtime/seccomp"
	"github.com/minirun/minirun/runtime/spec"
)

// Stdio is the standard input, output and error a container's process
// inherits when it has no terminal. Nil members mean minirun's own.
type Stdio struct {
	Stdin, Stdout, Stderr *os.File
}

func (s Stdio) orDefault() Stdio {
	if s.Stdin == nil {
		s.Stdin = os.Stdin
	}
	if s.Stdout == nil {
		s.Stdout = os.Stdout
	}
	if s.Stderr == nil {
		s.Stderr = os.Stderr
	}
	return s
}

// CreateOpts are create's flags.
type CreateOpts struct {
	Bundle        string
	PidFile       string
	ConsoleSocket string
	NoPivot       bool
	NoNewKeyring  bool
	// PreserveFDs passes minirun's fds 3 .. 3+PreserveFDs-1 on to the
	// process (systemd's socket activation, LISTEN_FDS).
	PreserveFDs int
	Stdio       Stdio
	// Overlay, when set, is the root filesystem as image layers: init
	// mounts it on root.path, which is then only the empty mount point,
	// in the container's mount namespace (see rootfs.Overlay). The front
	// end that runs images passes it; a plain OCI bundle has none.
	Overlay *rootfs.Overlay
}

// child is a process minirun started in a container (init, or an exec'd
// process) while its starter still holds it.
type child struct {
	cmd     *exec.Cmd
	sock    *syncSocket
	console *os.File // pty master, when the process has a terminal and no console socket took it
}

// kill ends a child that did not make it, and collects it, so a failed
// create leaves no process behind.
func (c *child) kill() {
	if c == nil || c.cmd.Process == nil {
		return
	}
	c.cmd.Process.Kill()
	c.cmd.Wait()
}

func (c *child) close() {
	if c == nil {
		return
	}
	c.sock.Close()
	if c.console != nil {
		c.console.Close()
	}
}

// Create makes the container: namespaces, root filesystem, process
// attributes, everything but the user's process, which waits for Start.
func (r *Runtime) Create(id string, o CreateOpts) error {
	c, lock, err := r.create(id, o, false)
	if err != nil {
		return err
	}
	if rec, err := r.loadRecord(id); err == nil {
		r.startMonitor(rec)
	}
	lock.unlock()
	c.close()
	return nil
}

// create is Create for create and run. It returns with the state dir locked
// and the child's sync socket still open.
func (r *Runtime) create(id string, o CreateOpts, proxyTTY bool) (_ *child, _ *lockFile, err error) {
	if err := ValidateID(id); err != nil {
		return nil, nil, err
	}
	if err := checkPreserved(o.PreserveFDs); err != nil {
		return nil, nil, err
	}
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		return nil, nil, err
	}
	s, err := spec.Load(bundle)
	if err != nil {
		return nil, nil, err
	}
	filter, err := r.compileSeccomp(s)
	if err != nil {
		return nil, nil, err
	}
	tty := s.Process.Terminal
	switch {
	case tty && o.ConsoleSocket == "" && !proxyTTY:
		return nil, nil, errors.New("process.terminal is set: --console-socket is needed to receive the pty")
	case !tty && o.ConsoleSocket != "":
		return nil, nil, errors.New("--console-socket given but process.terminal is false")
	}
	cloneFlags, joins, mountNS, err := namespacePlan(s.Linux)
	if err != nil {
		return nil, nil, err
	}
	defer closeJoins(joins)
	if mountNS != nil {
		defer mountNS.Close()
	}
	noMountNS := cloneFlags&unix.CLONE_NEWNS == 0 && mountNS == nil
	if o.Overlay != nil {
		// Init mounts the overlay in the container's mount namespace;
		// in the host's it would outlive the container.
		if noMountNS {
			return nil, nil, errors.New("an overlay root needs a mount namespace: the config has none in linux.namespaces")
		}
		if err := o.Overlay.Validate(); err != nil {
			return nil, nil, err
		}
	}
	sys := &syscall.SysProcAttr{Cloneflags: cloneFlags}
	if cloneFlags&unix.CLONE_NEWUSER != 0 {
		if err := mapIDs(sys, s.Linux); err != nil {
			return nil, nil, err
		}
	}

	dir := r.dir(id)
	lock, err := r.makeStateDir(dir)
	if err != nil {
		return nil, nil, err
	}
	// Crash points here and below kill the process that creates (minirun
	// create or run, or the monitor of run -d), which the deferred undo
	// below would have cleaned up after.
	crashpoint.Hit(crashpoint.StateDir)
	var c *child
	var cg *cgroups.Manager
	defer func() {
		if err != nil {
			// Undo in reverse: the process (its mounts die with its
			// mount namespace), its cgroup, then the state dir.
			c.kill()
			c.close()
			if cg != nil {
				cg.Kill()
				cg.Destroy()
				if s.Linux == nil || s.Linux.CgroupsPath == "" {
					removeDefaultParents(cg.State())
				}
			}
			lock.unlock()
			os.RemoveAll(dir)
		}
	}()

	fifoPath := filepath.Join(dir, fifoFile)
	if err := unix.Mkfifo(fifoPath, 0o622); err != nil {
		return nil, nil, &os.PathError{Op: "mkfifo", Path: fifoPath, Err: err}
	}
	// Mkfifo's mode went through our umask: set it exactly, so that init,
	// after switching to the container's user, can still open it.
	if err := os.Chmod(fifoPath, 0o622); err != nil {
		return nil, nil, err
	}
	fifo, err := os.OpenFile(fifoPath, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	defer fifo.Close()

	st := specs.State{
		Version:     specs.Version,
		ID:          id,
		Status:      specs.StateCreating,
		Bundle:      bundle,
		Annotations: s.Annotations,
	}
	cfg := &initConfig{
		Mode:         "create",
		Spec:         s,
		Process:      s.Process,
		Rootfs:       spec.RootfsPath(s, bundle),
		NoPivot:      o.NoPivot,
		NoNewKeyring: o.NoNewKeyring,
		PreserveFDs:  o.PreserveFDs,
		Debug:        r.Log.Enabled(context.Background(), slog.LevelDebug),
		Explain:      r.Explain.Enabled(),
		NoMountNS:    noMountNS,
		Overlay:      o.Overlay,
		Seccomp:      filter,
	}
	if cfg.NoMountNS {
		r.Log.Warn("no mount namespace: the container shares the host's mounts; its root is only chroot'ed, and mounts, masked and read-only paths are not applied", "id", id)
	}
	r.warnUnapplied(s)
	extra := []*os.File{fifo}
	if mountNS != nil {
		extra = append(extra, mountNS)
	}
	if cg, err = r.newCgroup(id, dir, s); err != nil {
		return nil, nil, err
	}
	crashpoint.Hit(crashpoint.Cgroup)
	cgDir, err := bornInCgroup(cg, cfg, &sys.Cloneflags, &sys.UseCgroupFD, &sys.CgroupFD)
	if err != nil {
		return nil, nil, err
	}
	defer cgDir.Close()
	var fds []int
	enterCgroup := forkInCgroup(cg, s, sys.UseCgroupFD)
	c, fds, err = r.startInit(cfg, &st, o.Stdio, o.PreserveFDs, extra, sys, joins, enterCgroup)
	if err != nil && errors.Is(err, errThreadCgroup) {
		r.Log.Debug("init is moved into its cgroup after the fork instead", "err", err)
		enterCgroup = nil
		c, fds, err = r.startInit(cfg, &st, o.Stdio, o.PreserveFDs, extra, sys, joins, nil)
	}
	if err != nil && sys.UseCgroupFD && cloneIntoCgroupUnsupported(err) {
		r.Log.Debug("clone3(CLONE_INTO_CGROUP) unsupported: init is moved into its cgroup instead")
		sys.UseCgroupFD = false
		if sys.Cloneflags&unix.CLONE_NEWCGROUP != 0 {
			sys.Cloneflags &^= unix.CLONE_NEWCGROUP
			cfg.UnshareCgroupNS = true
		}
		c, fds, err = r.startInit(cfg, &st, o.Stdio, o.PreserveFDs, extra, sys, joins, nil)
	}
	if err != nil {
		return nil, nil, err
	}
	if !sys.UseCgroupFD && enterCgroup == nil {
		// init waits for its config before doing anything: moving it now
		// is before any code of the container's runs.
		if err := cg.Enter(st.Pid); err != nil {
			return nil, nil, fmt.Errorf("move init into its cgroup: %w", err)
		}
	}
	if r.Explain.Enabled() {
		r.explainCgroupEntry(cg, st.Pid, sys.UseCgroupFD, enterCgroup != nil)
	}
	cgState := cg.State()
	cfg.FifoFD = fds[0]
	if mountNS != nil {
		cfg.MountNS = fds[1]
	}
	if err := r.handshake(c, cfg, st, o.ConsoleSocket); err != nil {
		return nil, nil, err
	}
	stat, err := readProcStat(st.Pid)
	if err != nil {
		return nil, nil, fmt.Errorf("read init's start time: %w", err)
	}
	rec := &record{
		ID: id, Bundle: bundle, Rootfs: cfg.Rootfs, Pid: st.Pid, PidStart: stat.StartTime,
		Created: time.Now().UTC(), Annotations: s.Annotations, Spec: s, Cgroup: &cgState,
	}
	if err := writeJSON(dir, recordFile, rec); err != nil {
		return nil, nil, err
	}
	if err := writePidFile(o.PidFile, st.Pid); err != nil {
		return nil, nil, err
	}
	r.Log.Debug("container created", "id", id, "pid", st.Pid)
	return c, lock, nil
}

// mapIDs prepares a new user namespace: uid and gid maps, and init's
// switch to the namespace's root.
func mapIDs(sys *syscall.SysProcAttr, l *specs.Linux) error {
	if len(l.UIDMappings) == 0 || len(l.GIDMappings) == 0 {
		return errors.New("a new user namespace needs linux.uidMappings and linux.gidMappings")
	}
	// Go's fork writes /proc/PID/uid_map and gid_map before the child
	// execs init.
	for _, m := range l.UIDMappings {
		sys.UidMappings = append(sys.UidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
	}
	for _, m := range l.GIDMappings {
		sys.GidMappings = append(sys.GidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
	}
	// We are privileged in the parent namespace, so the container may keep
	// setgroups(2), which init needs for additionalGids.
	sys.GidMappingsEnableSetgroups = true
	// After clone the child still has the host's uid 0, which the new
	// namespace does not map: execve would give init no capabilities.
	// Switching to the namespace's root (setresuid(0) once the maps are
	// written) makes init privileged inside it.
	sys.Credential = &syscall.Credential{Uid: 0, Gid: 0}
	return nil
}

// startInit starts `minirun init` from the protected binary (selfexe_linux.go)
// with the clone flags and id mappings of sys, from a thread in the
// namespaces of joins. extra are fds to pass after the preserved ones and
// the sync socket; their numbers in init are returned in order.
func (r *Runtime) startInit(cfg *initConfig, st *specs.State, stdio Stdio, preserve int, extra []*os.File, sys *syscall.SysProcAttr, joins []nsJoin, enterCgroup func() (func() error, error)) (*child, []int, error) {
	exe, exeWhat, err := protectedSelf()
	if err != nil {
		return nil, nil, err
	}
	defer exe.Close()
	parentSock, initSock, err := newSyncPair()
	if err != nil {
		return nil, nil, err
	}
	defer initSock.Close()

	// Init's fds: 0-2 stdio, then the preserved ones, then ours. The
	// binary itself is passed as an fd too and exec'd through
	// /proc/self/fd: a number of our own could be overwritten while the
	// child rearranges its fds before execve.
	var files []*os.File
	for i := 0; i < preserve; i++ {
		files = append(files, os.NewFile(uintptr(3+i), "preserved-"+strconv.Itoa(i)))
	}
	syncFD := 3 + len(files)
	files = append(files, initSock.f)
	var extraFDs []int
	for _, f := range extra {
		extraFDs = append(extraFDs, 3+len(files))
		files = append(files, f)
	}
	exeFD := 3 + len(files)
	files = append(files, exe)

	stdio = stdio.orDefault()
	cmd := &exec.Cmd{
		Path:        "/proc/self/fd/" + strconv.Itoa(exeFD),
		Args:        []string{"minirun", InitArg},
		Env:         []string{envSyncFD + "=" + strconv.Itoa(syncFD)},
		Stdin:       stdio.Stdin,
		Stdout:      stdio.Stdout,
		Stderr:      stdio.Stderr,
		ExtraFiles:  files,
		SysProcAttr: sys,
	}
	// A process with a terminal leads a session of its own, or it could
	// not make the pty its controlling terminal.
	sys.Setsid = cfg.Process.Terminal
	r.Log.Debug(fmt.Sprintf("clone(%s), then execve(/proc/self/fd/%d, [minirun init]): %s", cloneFlagNames(sys.Cloneflags), exeFD, exeWhat))
	for _, j := range joins {
		r.Log.Debug("setns(" + j.what + ") before clone")
	}
	if err := startJoined(cmd.Start, joins, enterCgroup); err != nil {
		parentSock.Close()
		return nil, nil, fmt.Errorf("start container init: %w", err)
	}
	st.Pid = cmd.Process.Pid
	cfg.State = *st
	parentSock.onLog = r.relayLog
	if r.Explain.Enabled() {
		parentSock.onStep = r.Explain.Step
		r.explainClone(sys, st.Pid, joins)
	}
	return &child{cmd: cmd, sock: parentSock}, extraFDs, nil
}

// warnUnapplied says which parts of the config minirun does not apply yet,
// rather than ignoring them silently.
func (r *Runtime) warnUnapplied(s *specs.Spec) {
	l := s.Linux
	if l == nil {
		return
	}
	if s.Process.ApparmorProfile != "" || s.Process.SelinuxLabel != "" || l.MountLabel != "" {
		r.Log.Warn("LSM labels (AppArmor, SELinux) are not applied")
	}
}

// compileSeccomp compiles linux.seccomp, here in the parent: a profile
// minirun cannot apply (SCMP_ACT_NOTIFY, an unknown action or
// architecture, more than 4096 instructions) is then one error before
// anything is made, and init, every system call of which may pass through
// the filter once it is on, only has to load it.
func (r *Runtime) compileSeccomp(s *specs.Spec) (*seccomp.Program, error) {
	if s.Linux == nil || s.Linux.Seccomp == nil {
		return nil, nil
	}
	prog, err := seccomp.Compile(s.Linux.Seccomp)
	if err != nil {
		return nil, fmt.Errorf("linux.seccomp: %w", err)
	}
	if len(prog.Skipped) > 0 {
		// As libseccomp: a profile names calls of newer or older
		// kernels, or of other architectures.
		r.Log.Debug("seccomp: system calls this architecture does not have are left out", "names", prog.Skipped)
	}
	r.Log.Debug(fmt.Sprintf("seccomp: linux.seccomp compiled for %s to %d BPF instructions", prog.Arch, prog.Len()))
	return prog, nil
}

// handshake drives the protocol in sync_linux.go up to "ready".
func (r *Runtime) handshake(c *child, cfg *initConfig, st specs.State, consoleSocket string) error {
	if err := c.sock.send(syncMsg{Type: msgConfig, Config: cfg}, -1); err != nil {
		return r.initFailed(c, err)
	}
	for {
		m, fd, err := c.sock.next()
		if err != nil {
			return r.initFailed(c, err)
		}
		switch m.Type {
		case msgHooks:
			// Init has mounted the root: the parent, which would undo
			// the rest, is what a crash here kills.
			crashpoint.Hit(crashpoint.Mount)
			if h := cfg.Spec.Hooks; h != nil {
				// prestart is deprecated but still called, at the same
				// point as createRuntime, as runc does.
				if err := runHooks("prestart", h.Prestart, st); err != nil {
					return err
				}
				if err := runHooks("createRuntime", h.CreateRuntime, st); err != nil {
					return err
				}
			}
			if err := c.sock.send(syncMsg{Type: msgContinue}, -1); err != nil {
				return r.initFailed(c, err)
			}
		case msgConsole:
			master := os.NewFile(uintptr(fd), "/dev/ptmx")
			if consoleSocket != "" {
				err := sendConsole(consoleSocket, master)
				master.Close()
				if err != nil {
					return err
				}
			} else {
				c.console = master
			}
		case msgReady:
			return nil
		case msgError:
			return &InitError{Msg: m.Error, Errno: unix.Errno(m.Errno)}
		default:
			return fmt.Errorf("sync: unexpected %q message from init", m.Type)
		}
	}
}

// initFailed explains a broken handshake: usually init died, and how it
// died is the news.
func (r *Runtime) initFailed(c *child, err error) error {
	if !errors.Is(err, io.EOF) && !errors.Is(err, unix.EPIPE) && !errors.Is(err, unix.ECONNRESET) {
		return err
	}
	c.cmd.Wait()
	c.cmd.Process = nil
	return fmt.Errorf("container init exited during setup: %v", c.cmd.ProcessState)
}

// relayLog re-logs a record init sent, under minirun's own handler.
func (r *Runtime) relayLog(raw json.RawMessage) {
	var rec map[string]any
	if json.Unmarshal(raw, &rec) != nil {
		return
	}
	var level slog.Level
	if s, ok := rec["level"].(string); ok {
		level.UnmarshalText([]byte(s))
	}
	msg, _ := rec["msg"].(string)
	attrs := []any{"side", "init"}
	for k, v := range rec {
		if k != "level" && k != "msg" && k != "time" {
			attrs = append(attrs, k, v)
		}
	}
	r.Log.Log(context.Background(), level, msg, attrs...)
}

// writePidFile writes pid with no newline (clients parse it with Atoi),
// atomically.
func writePidFile(path string, pid int) error {
	if path == "" {
		return nil
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write pid file: %w", err)
	}
	return nil
}

func cloneFlagNames(flags uintptr) string {
	var s string
	for _, k := range []struct {
		f uintptr
		n string
	}{{unix.CLONE_NEWNS, "CLONE_NEWNS"}, {unix.CLONE_NEWPID, "CLONE_NEWPID"}, {unix.CLONE_NEWUTS, "CLONE_NEWUTS"},
		{unix.CLONE_NEWIPC, "CLONE_NEWIPC"}, {unix.CLONE_NEWNET, "CLONE_NEWNET"}, {unix.CLONE_NEWCGROUP, "CLONE_NEWCGROUP"},
		{unix.CLONE_NEWUSER, "CLONE_NEWUSER"}} {
		if flags&k.f != 0 {
			if s != "" {
				s += "|"
			}
			s += k.n
		}
	}
	if s == "" {
		return "0"
	}
	return s
}
