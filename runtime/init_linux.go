package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/explain"
	"github.com/minirun/minirun/rootfs"
	"github.com/minirun/minirun/runtime/seccomp"
)

// InitArg is argv[1] of minirun when it runs as a container's init. main
// must dispatch it before anything else runs (see cmd/minirun), and on the
// main thread: mount and credential changes below are per-thread, and the
// thread that calls execve is the one whose state the user's process gets.
const InitArg = "init"

// envSyncFD names the fd of init's end of the sync socket.
const envSyncFD = "_MINIRUN_SYNC_FD"

// hostProc is init's fd of the host's /proc (see Init).
var hostProc int

// IsInit reports whether this process was started as a container's init.
func IsInit() bool {
	return len(os.Args) > 1 && os.Args[1] == InitArg && os.Getenv(envSyncFD) != ""
}

// Init runs the container side of create, run and exec. It never returns:
// it either execve's the user's process or exits after reporting the error
// to the parent.
func Init() {
	// First, before anything can look at us: a non-dumpable process's
	// /proc/PID files (exe, fd, mem, environ) are closed to other users
	// and to processes without CAP_SYS_PTRACE, i.e. to the container.
	unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)

	// A handle on the host's procfs, taken before any mount or root
	// change: it still reaches /proc/self after pivot_root or chroot, even
	// in a container that mounts no /proc. Close-on-exec, like every fd of
	// init's.
	var err error
	if hostProc, err = unix.Open("/proc", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
		fmt.Fprintln(os.Stderr, "minirun init: open /proc:", err)
		os.Exit(1)
	}
	fd, err := strconv.Atoi(os.Getenv(envSyncFD))
	if err != nil {
		fmt.Fprintln(os.Stderr, "minirun init: bad", envSyncFD)
		os.Exit(1)
	}
	os.Unsetenv(envSyncFD)
	sock := &syncSocket{f: os.NewFile(uintptr(fd), "sync")}
	m, _, err := sock.expect(msgConfig)
	if err != nil || m.Config == nil {
		fmt.Fprintln(os.Stderr, "minirun init: no config from parent:", err)
		os.Exit(1)
	}
	c := m.Config
	level := slog.LevelInfo
	if c.Debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewJSONHandler(sock, &slog.HandlerOptions{Level: level}))

	if c.Mode == "exec" {
		err = initExec(c, sock, log)
	} else {
		err = initContainer(c, sock, log)
	}
	// Only failures get here.
	var errno unix.Errno
	errors.As(err, &errno)
	if serr := sock.send(syncMsg{Type: msgError, Error: err.Error(), Errno: int(errno)}, -1); serr != nil {
		// The parent is gone (create returned long ago): say it where the
		// container's output goes.
		fmt.Fprintln(os.Stderr, "minirun init:", err)
	}
	switch {
	case IsNotFound(err):
		os.Exit(127)
	case IsNotExecutable(err):
		os.Exit(126)
	}
	os.Exit(1)
}

// initContainer sets up a new container around init: it runs as pid 1 of
// the new pid namespace, in fresh mount, uts, ipc, net and cgroup
// namespaces that clone(2) made.
func initContainer(c *initConfig, sock *syncSocket, log *slog.Logger) error {
	s := c.Spec
	ex := c.explainer(sock)
	if c.UnshareCgroupNS {
		// Now that the parent moved us into the container's cgroup: a
		// cgroup namespace is rooted at the caller's cgroup when made.
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return os.NewSyscallError("unshare(CLONE_NEWCGROUP)", err)
		}
		log.Debug("unshare(CLONE_NEWCGROUP): the container's cgroup becomes its root")
		if ex.Enabled() {
			ino, _ := nsInode(hostProc, "self/ns/cgroup")
			ex.Step(explain.Step{Phase: explain.PhaseClone, Man: "cgroup_namespaces(7), unshare(2)",
				Text:   fmt.Sprintf("unshare(CLONE_NEWCGROUP): new cgroup namespace cgroup:[%d], rooted at the container's cgroup", ino),
				Fields: map[string]any{"op": "unshare", "ns": map[string]uint64{"cgroup": ino}}})
		}
	}
	if !c.NoNewKeyring {
		// A session keyring of its own, so the container cannot read the
		// keys of whoever started it (keyrings(7)).
		if _, err := unix.KeyctlJoinSessionKeyring("_ses." + c.State.ID); err != nil && err != unix.ENOSYS {
			return fmt.Errorf("join session keyring: %w", err)
		}
		log.Debug("keyctl(KEYCTL_JOIN_SESSION_KEYRING, \"_ses." + c.State.ID + "\")")
		ex.Stepf(explain.PhaseProcess, "keyrings(7), keyctl(2)", "keyctl(KEYCTL_JOIN_SESSION_KEYRING, %q): a session keyring of its own", "_ses."+c.State.ID)
	}
	if c.MountNS > 0 {
		if err := joinMountNS(c.MountNS, log); err != nil {
			return err
		}
	}
	rc := &rootfs.Config{Rootfs: c.Rootfs, Overlay: c.Overlay, Spec: s, NoPivot: c.NoPivot, Log: log, Explain: ex}
	// Without a mount namespace of its own, the container shares the
	// host's: any mount would be the host's, so none is made, and the
	// root is changed with chroot(2) alone (as runc does).
	withRoot := !c.NoMountNS
	if withRoot {
		if err := rootfs.Prepare(rc); err != nil {
			return err
		}
	}
	// The namespaces exist and the mounts are made but the root is not
	// pivoted yet: the moment the spec gives to createRuntime hooks, which
	// the parent runs in the host's namespaces.
	if err := sock.send(syncMsg{Type: msgHooks}, -1); err != nil {
		return err
	}
	if _, _, err := sock.expect(msgContinue); err != nil {
		return err
	}
	if s.Hooks != nil {
		if err := runHooks("createContainer", s.Hooks.CreateContainer, c.State); err != nil {
			return err
		}
	}
	if withRoot {
		if err := rootfs.Pivot(rc); err != nil {
			return err
		}
	} else {
		if err := unix.Chroot(c.Rootfs); err != nil {
			return &os.PathError{Op: "chroot", Path: c.Rootfs, Err: err}
		}
		if err := unix.Chdir("/"); err != nil {
			return err
		}
		log.Debug(fmt.Sprintf("chroot(%q): no mount namespace, so no mounts", c.Rootfs))
		ex.Stepf(explain.PhasePivot, "chroot(2)", "chroot(%q): no mount namespace, so no mounts", c.Rootfs)
	}
	// Before Finalize turns the root (and /proc/sys) read-only: the
	// sysctls, and a missing working directory, which runc creates as
	// root.
	if err := writeSysctls(s.Linux, log, ex); err != nil {
		return err
	}
	if withRoot {
		if cwd := s.Process.Cwd; cwd != "" {
			if err := mkdirInRoot(cwd); err != nil {
				return fmt.Errorf("create cwd %s: %w", cwd, err)
			}
		}
		if err := rootfs.Finalize(rc); err != nil {
			return err
		}
	}
	if s.Hostname != "" {
		if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
			return fmt.Errorf("sethostname %q: %w", s.Hostname, err)
		}
		log.Debug(fmt.Sprintf("sethostname(%q) in the new UTS namespace", s.Hostname))
		ex.Stepf(explain.PhaseProcess, "sethostname(2), uts_namespaces(7)", "sethostname(%q) in the new UTS namespace", s.Hostname)
	}
	if s.Domainname != "" {
		if err := unix.Setdomainname([]byte(s.Domainname)); err != nil {
			return fmt.Errorf("setdomainname %q: %w", s.Domainname, err)
		}
		ex.Stepf(explain.PhaseProcess, "setdomainname(2), uts_namespaces(7)", "setdomainname(%q)", s.Domainname)
	}
	return startProcess(c, sock, log)
}

// initExec joins a running container. The parent already put this process
// in the container's pid, net, ipc, uts and cgroup namespaces (setns(2) on
// the thread that forked it); the mount namespace is joined here, because
// the path of the binary being exec'd had to resolve on the host.
func initExec(c *initConfig, sock *syncSocket, log *slog.Logger) error {
	if c.CgroupNS > 0 {
		if err := unix.Setns(c.CgroupNS, unix.CLONE_NEWCGROUP); err != nil {
			return os.NewSyscallError("setns(cgroup)", err)
		}
		unix.Close(c.CgroupNS)
		log.Debug("setns(cgroup): joined the cgroup namespace, from inside the container's cgroup")
	}
	if c.MountNS > 0 {
		if err := joinMountNS(c.MountNS, log); err != nil {
			return err
		}
		c.explainer(sock).Stepf(explain.PhaseClone, "setns(2), mount_namespaces(7)", "unshare(CLONE_FS), setns(mnt): joined the container's mount namespace (a thread must not share its fs_struct to change it)")
	}
	if c.RootFD > 0 {
		// setns(mnt) leaves us at the namespace's root; with --no-pivot
		// the container's root is a chroot inside it.
		if err := unix.Fchdir(c.RootFD); err != nil {
			return os.NewSyscallError("fchdir(root)", err)
		}
		if err := unix.Chroot("."); err != nil {
			return os.NewSyscallError("chroot", err)
		}
	}
	for _, fd := range []int{c.MountNS, c.RootFD} {
		if fd > 2 {
			unix.Close(fd)
		}
	}
	return startProcess(c, sock, log)
}

// joinMountNS moves the calling thread, which is the one that will execve,
// into the mount namespace fd. setns(CLONE_NEWNS) refuses a thread that
// shares its fs_struct (root, cwd) with other threads, as every Go thread
// does, so the thread first takes a copy of its own.
func joinMountNS(fd int, log *slog.Logger) error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return os.NewSyscallError("unshare(CLONE_FS)", err)
	}
	if err := unix.Setns(fd, unix.CLONE_NEWNS); err != nil {
		return os.NewSyscallError("setns(mnt)", err)
	}
	log.Debug("unshare(CLONE_FS), setns(mnt): joined the mount namespace")
	return nil
}

// startProcess does what create and exec share: the process's terminal,
// limits, working directory, credentials, then execve.
func startProcess(c *initConfig, sock *syncSocket, log *slog.Logger) error {
	p := c.Process
	ex := c.explainer(sock)
	if p.Terminal {
		if err := setupConsole(sock, log); err != nil {
			return err
		}
	}
	for _, rl := range p.Rlimits {
		if err := setRlimit(rl); err != nil {
			return err
		}
		log.Debug(fmt.Sprintf("setrlimit(%s, soft=%d, hard=%d)", rl.Type, rl.Soft, rl.Hard))
		if ex.Enabled() {
			ex.Step(explain.Step{Phase: explain.PhaseProcess, Man: "prlimit(2), getrlimit(2)",
				Text:   fmt.Sprintf("prlimit(0, %s, {soft=%d, hard=%d}): survives execve", rl.Type, rl.Soft, rl.Hard),
				Fields: map[string]any{"op": "rlimit", "type": rl.Type, "soft": rl.Soft, "hard": rl.Hard}})
		}
	}
	if p.OOMScoreAdj != nil {
		v := strconv.Itoa(*p.OOMScoreAdj)
		// Through init's procfs handle, never the container's /proc
		// (procfs_linux.go).
		if err := writeProc("self/oom_score_adj", v); err != nil {
			return fmt.Errorf("set oom_score_adj %s: %w", v, err)
		}
		ex.Stepf(explain.PhaseProcess, "proc(5) (/proc/pid/oom_score_adj)", "write %q to /proc/self/oom_score_adj", v)
	}
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	// chdir after pivot_root or setns, resolved inside the container's
	// root with /proc/self/fd/N refused: init still holds host fds
	// (CVE-2024-21626; fds_linux.go).
	if err := chdirInRoot(cwd); err != nil {
		return err
	}
	path, err := lookPath(p.Args[0], p.Env)
	if err != nil {
		return err
	}
	p.Env = withHome(p.Env, p.User.UID)
	// No fd of minirun's may reach the user's process (CVE-2024-21626):
	// everything above stdio and the preserved fds closes at execve.
	if err := unix.CloseRange(uint(3+c.PreserveFDs), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return os.NewSyscallError("close_range", err)
	}
	// The seccomp filter goes on as late as it can, so that as few of
	// init's own system calls as possible must pass a profile written for
	// the user's process. How late depends on no_new_privs: seccomp(2)
	// installs a filter only for a thread with no_new_privs or with
	// CAP_SYS_ADMIN, which setCredentials may drop. So without
	// no_new_privs it goes on here, while init still has every
	// capability, and setCredentials, the exec fifo and startContainer
	// hooks then run under it (as in runc). The filter covers this thread
	// alone, the one that calls execve (see seccomp.Program.Install).
	filter := c.Seccomp
	if filter != nil && !p.NoNewPrivileges {
		// Explained first, like the log line: the filter may deny the
		// write to the sync socket.
		explainSeccomp(ex, c, "now, while init may still install it: no no_new_privs")
		if err := installSeccomp(filter, log); err != nil {
			return err
		}
	}
	if err := setCredentials(p, log, ex); err != nil {
		return err
	}
	if p.NoNewPrivileges {
		// After this, execve can never grant privileges (setuid bits, file
		// capabilities): seccomp filters rely on it.
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return os.NewSyscallError("prctl(PR_SET_NO_NEW_PRIVS)", err)
		}
		log.Debug("prctl(PR_SET_NO_NEW_PRIVS, 1)")
		ex.Stepf(explain.PhaseProcess, "prctl(2) (PR_SET_NO_NEW_PRIVS), Documentation/userspace-api/no_new_privs.rst", "prctl(PR_SET_NO_NEW_PRIVS, 1): execve can no longer grant privileges (setuid bits, file capabilities)")
	}
	if filter != nil && p.NoNewPrivileges {
		// Said here, before "ready": after it, in a container made by
		// create, nobody reads the socket any more.
		explainSeccomp(ex, c, "last, right before execve (no_new_privs allows it without CAP_SYS_ADMIN)")
	}
	log.Debug(fmt.Sprintf("execve(%q, %q)", path, p.Args))
	if ex.Enabled() {
		when := "now"
		if c.Mode == "create" {
			when = "once start opens exec.fifo"
		}
		ex.Step(explain.Step{Phase: explain.PhaseExec, Man: "execve(2)",
			Text:   fmt.Sprintf("execve(%q, %q) %s; fds above %d close on exec (close_range(2))", path, p.Args, when, 2+c.PreserveFDs),
			Fields: map[string]any{"op": "execve", "path": path, "args": p.Args}})
	}
	if err := sock.send(syncMsg{Type: msgReady}, -1); err != nil {
		return err
	}
	if c.Mode == "create" {
		// Block until `minirun start` opens the other end: nothing of the
		// user's runs before start. The fifo was opened O_PATH on the host;
		// reopening it through /proc/self/fd gives a real write end without
		// needing its host path.
		//
		// The write end stays open, close-on-exec, until execve: start
		// reads EOF exactly when the user's process replaced init, and
		// only then runs the poststart hooks.
		fifo, err := unix.Openat(hostProc, "self/fd/"+strconv.Itoa(c.FifoFD), unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open exec fifo: %w", err)
		}
		if _, err := unix.Write(fifo, []byte{0}); err != nil {
			return fmt.Errorf("write exec fifo: %w", err)
		}
		if h := c.Spec.Hooks; h != nil {
			st := c.State
			st.Status = specs.StateCreated
			if err := runHooks("startContainer", h.StartContainer, st); err != nil {
				return err
			}
		}
	}
	if filter != nil && p.NoNewPrivileges {
		// With no_new_privs, no capability is needed: right before
		// execve, after the parent was told and start was waited for.
		if err := installSeccomp(filter, log); err != nil {
			return err
		}
	}
	if err := syscall.Exec(path, p.Args, p.Env); err != nil {
		return &os.PathError{Op: "exec", Path: p.Args[0], Err: err}
	}
	panic("unreachable")
}

// installSeccomp loads the container's filter on this thread. It logs
// first: the log is a write to the sync socket, which the filter may
// deny.
func installSeccomp(filter *seccomp.Program, log *slog.Logger) error {
	log.Debug(fmt.Sprintf("seccomp(SECCOMP_SET_MODE_FILTER, %#x, %d instructions)", filter.Flags, filter.Len()))
	return filter.Install()
}

// setCredentials switches to the process's user and capability sets.
//
// The order is forced by the kernel: dropping from the bounding set needs
// CAP_SETPCAP, so it comes first, while init is root; setresuid to a
// non-zero uid clears the permitted set unless PR_SET_KEEPCAPS is on;
// capset(2) then trims permitted/effective/inheritable, and ambient
// capabilities can only be raised once they are permitted and inheritable.
//
// These are raw per-thread syscalls on purpose: credentials belong to a
// thread in Linux, and only the thread that calls execve matters.
func setCredentials(p *specs.Process, log *slog.Logger, ex *explain.Sink) error {
	caps, unknown := capSetsOf(p.Capabilities)
	for _, name := range unknown {
		log.Warn("unknown capability skipped", "capability", name)
	}
	var before capSets
	if log.Enabled(context.Background(), slog.LevelDebug) || ex.Enabled() {
		var err error
		if before, err = readCaps(); err == nil {
			log.Debug("capabilities before: " + before.String())
		}
	}
	if err := dropBounding(caps.Bounding); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return os.NewSyscallError("prctl(PR_SET_KEEPCAPS)", err)
	}
	u := p.User
	gids := make([]int, len(u.AdditionalGids))
	for i, g := range u.AdditionalGids {
		gids[i] = int(g)
	}
	if err := unix.Setgroups(gids); err != nil {
		return os.NewSyscallError("setgroups", err)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID)); e != 0 {
		return fmt.Errorf("setresgid(%d): %w", u.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID)); e != 0 {
		return fmt.Errorf("setresuid(%d): %w", u.UID, e)
	}
	log.Debug(fmt.Sprintf("setgroups(%v), setresgid(%d), setresuid(%d)", gids, u.GID, u.UID))
	ex.Stepf(explain.PhaseProcess, "setresuid(2), setgroups(2), credentials(7)", "setgroups(%v), setresgid(%d), setresuid(%d) with PR_SET_KEEPCAPS on", gids, u.GID, u.UID)
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return os.NewSyscallError("prctl(PR_SET_KEEPCAPS)", err)
	}
	skipped, err := setCaps(caps)
	if err != nil {
		return err
	}
	if skipped != 0 {
		log.Debug("ambient capabilities skipped (not permitted and inheritable): " + capNames(skipped))
	}
	caps.Ambient &^= skipped
	log.Debug("capabilities after: " + caps.String())
	if ex.Enabled() {
		explainCaps(ex, before, caps)
	}
	if u.Umask != nil {
		unix.Umask(int(*u.Umask))
	}
	return nil
}

var rlimitTypes = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE,
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING, "RLIMIT_STACK": unix.RLIMIT_STACK,
}

func setRlimit(rl specs.POSIXRlimit) error {
	res, ok := rlimitTypes[rl.Type]
	if !ok {
		return fmt.Errorf("unknown rlimit %q", rl.Type)
	}
	// prlimit(2) on ourselves: rlimits belong to the process and survive
	// execve. Go's syscall.Setrlimit would also do, but it caches NOFILE.
	lim := unix.Rlimit{Cur: rl.Soft, Max: rl.Hard}
	if err := unix.Prlimit(0, res, &lim, nil); err != nil {
		return fmt.Errorf("setrlimit %s (soft %d, hard %d): %w", rl.Type, rl.Soft, rl.Hard, err)
	}
	return nil
}

func writeSysctls(l *specs.Linux, log *slog.Logger, ex *explain.Sink) error {
	if l == nil {
		return nil
	}
	// Through init's handle on /proc (see Init and procfs_linux.go): the
	// entries under /proc/sys/net and the IPC ones belong to the
	// namespaces of the process that opens them, so this reaches the
	// container's values, whether or not the container mounts a /proc of
	// its own.
	for k, v := range l.Sysctl {
		path := filepath.Join("sys", strings.ReplaceAll(k, ".", "/"))
		if err := writeProc(path, v); err != nil {
			return fmt.Errorf("write sysctl %s=%s: %w", k, v, err)
		}
		log.Debug(fmt.Sprintf("write %q to /proc/%s", v, path))
		ex.Stepf(explain.PhaseProcess, "sysctl(8), proc(5)", "write %q to /proc/%s (linux.sysctl %s)", v, path, k)
	}
	return nil
}

// lookPath finds name in the PATH of the process's own environment, in the
// container's filesystem, not minirun's.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, checkExecutable(name)
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	var firstErr error
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		err := checkExecutable(p)
		if err == nil {
			return p, nil
		}
		if firstErr == nil && !errors.Is(err, unix.ENOENT) {
			firstErr = err
		}
	}
	if firstErr != nil {
		return "", firstErr
	}
	return "", &os.PathError{Op: "exec", Path: name, Err: fmt.Errorf("executable file not found in $PATH: %w", unix.ENOENT)}
}

// withHome adds HOME, as runc does, when the process has none: the home
// directory of uid in the container's /etc/passwd, else "/".
func withHome(env []string, uid uint32) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "HOME=") {
			return env
		}
	}
	home := "/"
	if data, err := os.ReadFile("/etc/passwd"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			// name:password:uid:gid:gecos:home:shell, passwd(5)
			f := strings.Split(line, ":")
			if len(f) >= 6 && f[2] == strconv.FormatUint(uint64(uid), 10) && f[5] != "" {
				home = f[5]
				break
			}
		}
	}
	return append(env, "HOME="+home)
}

func checkExecutable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return &os.PathError{Op: "exec", Path: path, Err: unwrapErrno(err)}
	}
	if st.IsDir() {
		return &os.PathError{Op: "exec", Path: path, Err: unix.EISDIR}
	}
	if st.Mode()&0o111 == 0 {
		return &os.PathError{Op: "exec", Path: path, Err: unix.EACCES}
	}
	return nil
}

func unwrapErrno(err error) error {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}
