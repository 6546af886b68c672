package container

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/image"
	"github.com/minirun/minirun/runtime"
)

// MonitorArg is argv[1] of a container monitor: minirun re-executed to
// hold one detached container.
//
// A detached container needs a parent that outlives the command that
// started it: something must read its stdout and stderr (else the
// container blocks once a pipe fills), record how it ended, and remove it
// when --rm says so. The monitor is that parent. It runs in its own
// session (setsid(2), so no terminal's ^C or hangup reaches it), marks
// itself a child subreaper (prctl(2) PR_SET_CHILD_SUBREAPER, so that what
// the container's processes leave orphaned is reparented to it, not to
// the host's init) and reports "running" or the error to the command that
// started it over a pipe, then copies the container's output into its
// log until the container exits.
const MonitorArg = "container-monitor"

// IsMonitor reports whether this process was started as a container
// monitor.
func IsMonitor() bool { return len(os.Args) == 5 && os.Args[1] == MonitorArg }

// monitorLockFD is the run lock in the monitor: a bare fd, never an
// *os.File, whose finalizer could close it (and so drop the lock) once
// garbage.
const monitorLockFD = 4

// Monitor is a container monitor's body: args are the store, the runtime
// root and the container ID; fd 3 is the status pipe, fd 4 the
// container's run lock, held. It never returns.
func Monitor() {
	// The lock is held for as long as fd 4 stays open: for the monitor's
	// life, and not a moment longer, so no process of the container may
	// inherit it.
	unix.CloseOnExec(monitorLockFD)
	status := os.NewFile(3, "status")
	err := monitor(os.Args[2], os.Args[3], os.Args[4], status)
	if err != nil {
		fmt.Fprintln(status, "error:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func monitor(storeRoot, rtRoot, id string, status *os.File) error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_CHILD_SUBREAPER: %w", err)
	}
	s, err := image.Open(storeRoot, nil)
	if err != nil {
		return err
	}
	m := New(s, runtime.New(rtRoot, nil), nil)
	rec, err := m.Load(id)
	if err != nil {
		return err
	}
	ov, err := m.overlay(id)
	if err != nil {
		return err
	}
	lg, err := NewLog(m.path(id, "log.json"), LogOptions{MaxSize: rec.Options.LogMaxSize, MaxFiles: rec.Options.LogMaxFiles})
	if err != nil {
		return err
	}
	defer lg.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return err
	}
	var copies sync.WaitGroup
	for stream, r := range map[string]*os.File{"stdout": outR, "stderr": errR} {
		copies.Add(1)
		go func() {
			defer copies.Done()
			lg.Copy(stream, r)
		}()
	}
	// With a terminal, the monitor itself copies the pty to stdout (the
	// runtime proxies it), so its stdout pipe stays open until the end.
	closeOurs := sync.OnceFunc(func() {
		if !rec.Options.Terminal {
			outW.Close()
		}
		errW.Close()
		devnull.Close()
	})
	started := false
	attach, netDown, err := m.netUp(context.Background(), rec)
	if err != nil {
		closeOurs()
		outW.Close()
		copies.Wait()
		return err
	}
	defer netDown()
	es, err := m.rt.Run(id, runtime.RunOpts{
		CreateOpts: runtime.CreateOpts{Bundle: m.path(id), Overlay: ov,
			Stdio: runtime.Stdio{Stdin: devnull, Stdout: outW, Stderr: errW}},
		Created: attach,
		Started: func(pid int) {
			// The container holds its own copies of the pipes now; ours
			// must go, or the log copies would never see EOF.
			closeOurs()
			started = true
			if rec.Options.Init {
				reaperReady(pid)
			}
			m.update(id, func(r *Record) {
				r.State = State{Status: StatusRunning, Pid: pid, MonitorPid: os.Getpid(), StartedAt: time.Now().UTC()}
			})
			fmt.Fprintln(status, "ok", pid)
			status.Close()
			shrink()
		},
	})
	closeOurs()
	outW.Close()
	if err != nil && !started {
		copies.Wait()
		return err
	}
	// Every process of the container is gone (its pid namespace died
	// with init), so the pipes reach EOF; do not wait for ever on one a
	// process outside kept.
	done := make(chan struct{})
	go func() { copies.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	netDown()
	m.update(id, func(r *Record) {
		r.State = exited(r.State, es)
		if err != nil {
			r.State.Error = err.Error()
		}
	})
	if rec.Options.AutoRemove {
		m.removeDir(id)
	}
	return nil
}

// startMonitor starts a monitor for rec, handing it held (the run lock),
// and waits until it reports the container running, or its error.
func (m *Manager) startMonitor(rec *Record, held *os.File) error {
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{"minirun", MonitorArg, m.store.Root(), m.rt.Root, rec.ID},
		Stdin:       devnull,
		Stdout:      devnull,
		Stderr:      devnull,
		ExtraFiles:  []*os.File{w, held},
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("start the container's monitor: %w", err)
	}
	// Reap it in the background should this process live on (tests).
	waited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(waited)
	}()
	line, _ := bufio.NewReader(r).ReadString('\n')
	line = strings.TrimSpace(line)
	switch {
	case strings.HasPrefix(line, "ok "):
		if pid, err := strconv.Atoi(strings.TrimPrefix(line, "ok ")); err == nil {
			rec.State.Pid = pid
		}
		rec.State.Status = StatusRunning
		return nil
	case strings.HasPrefix(line, "error: "):
		return errors.New(strings.TrimPrefix(line, "error: "))
	}
	// How it ended is the news (killed, say), if it has ended.
	select {
	case <-waited:
		return fmt.Errorf("the container's monitor ended without a word: %v", cmd.ProcessState)
	case <-time.After(time.Second):
	}
	return errors.New("the container's monitor ended without a word")
}

// RunDetached makes a container from an image and starts it under a
// monitor; it returns once the container runs.
func (m *Manager) RunDetached(ctx context.Context, o RunOptions) (*Record, error) {
	rec, held, err := m.create(ctx, o)
	if err != nil {
		return nil, err
	}
	// Ours until the monitor says it runs the container, then the
	// monitor's alone.
	defer held.Close()
	if err := m.startMonitor(rec, held); err != nil {
		// A monitor that died (was killed) midway undid nothing.
		m.rt.Delete(rec.ID, true)
		if nerr := m.netRemove(rec); nerr != nil {
			m.log.Warn("release the container's network (minirun gc retries)", "id", rec.ID, "err", nerr)
		}
		m.removeDir(rec.ID)
		return nil, err
	}
	return rec, nil
}

// shrink gives back what the monitor no longer needs, so that one per
// detached container costs little memory. Go returns freed heap pages
// with FreeOSMemory. The binary's own pages are the larger part: every
// package's init touched them, and RSS counts each mapped page. They are
// file pages, so madvise(2) MADV_DONTNEED on the executable's mappings
// only unmaps them from this process (the page cache keeps them for the
// next minirun); the few the copy loop needs fault back in.
func shrink() {
	debug.FreeOSMemory()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(maps), "\n") {
		f := strings.Fields(line)
		// start-end perms offset dev inode path; only read-only or
		// executable mappings of the binary: never its writable data.
		if len(f) < 6 || f[5] != exe || strings.Contains(f[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED)
	}
}

// reaperReady waits (a little) until --init's reaper has started the
// command, which it does once it handles signals. Until then pid 1 of the
// container has no handler, and the kernel drops a signal sent to it from
// outside (pid_namespaces(7)): a stop right after run -d would be lost.
func reaperReady(pid int) {
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if hasChild(pid) {
			return
		}
	}
}

// hasChild reports whether pid has a child process. /proc/PID/task/TID/
// children answers at once, but only on kernels built with
// CONFIG_PROC_CHILDREN; elsewhere every process's parent is read.
func hasChild(pid int) bool {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid)); err == nil {
		return len(strings.TrimSpace(string(b))) > 0
	}
	ents, _ := os.ReadDir("/proc")
	want := ") " // "pid (comm) S ppid ..."
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndex(s, want)
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+2:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			return true
		}
	}
	return false
}
