package runtime

import (
	"errors"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/crashpoint"
	"github.com/minirun/minirun/internal/explain"
)

// RunOpts are run's flags: create's, and whether to wait.
type RunOpts struct {
	CreateOpts
	Detach bool
	// Started, when set, is called with init's pid once the user's
	// process has been exec'd, before Run waits for it: a front end that
	// runs the container from a monitor process reports "running" there.
	Started func(pid int)
	// Created, when set, is called with init's pid once the container
	// exists (its namespaces are made, init waits for start) and before
	// it starts: the moment a front end wires the network namespace, as
	// podman does between create and start. An error ends the run before
	// the user's process ever runs.
	Created func(pid int) error
}

// Run creates and starts a container and, unless detached, waits for it,
// relays signals to it and deletes it when it exits. The returned status is
// the container's (128+N for a signal N).
func (r *Runtime) Run(id string, o RunOpts) (ExitStatus, error) {
	c, lock, err := r.create(id, o.CreateOpts, !o.Detach)
	if err != nil {
		return ExitStatus{}, err
	}
	defer lock.unlock()
	defer c.close()
	// Catch the forwarded signals before the process can run: one sent
	// in between would otherwise be lost, or end minirun itself.
	var sigs chan os.Signal
	if !o.Detach {
		sigs = catchSignals()
		defer signal.Stop(sigs)
	}
	rec, err := r.loadRecord(id)
	if err == nil && o.Created != nil {
		err = o.Created(rec.Pid)
	}
	if err == nil {
		err = r.start(rec)
	}
	if err == nil {
		err = r.awaitExec(c)
	}
	if err != nil {
		c.kill()
		if rec != nil {
			r.destroy(rec, true)
		} else {
			os.RemoveAll(r.dir(id))
		}
		return ExitStatus{}, err
	}
	// The user's process runs. A crash here kills the process that waits
	// for it (a foreground run, or the monitor of run -d) before it could
	// record it running.
	crashpoint.Hit(crashpoint.Start)
	if o.Detach {
		r.startMonitor(rec)
		return ExitStatus{}, nil
	}
	// Nothing else can change this container while it runs in front of
	// the user, except kill (which takes the lock): let go of it.
	lock.unlock()
	if o.Started != nil {
		o.Started(rec.Pid)
	}
	es := r.wait(c, o.Stdio, sigs)
	r.Explain.Stepf(explain.PhaseRun, "wait4(2)", "wait4(%d): the container's process exited: %s", rec.Pid, c.cmd.ProcessState)
	r.noteOOM(rec, &es)
	writeJSON(r.dir(id), exitFile, es)
	relock, err := lockDir(r.dir(id), unix.LOCK_EX)
	if err != nil {
		return es, err
	}
	defer relock.unlock()
	return es, r.destroy(rec, true)
}

// noteOOM marks es when the OOM killer ended a process of the container:
// its cgroup's oom_kill counter moved.
func (r *Runtime) noteOOM(rec *record, es *ExitStatus) {
	cg := r.cgroupOf(rec)
	if cg == nil {
		return
	}
	if n, err := cg.OOMKills(); err == nil && n > 0 {
		es.OOMKilled = true
		if l := rec.Spec.Linux; l != nil && l.Resources != nil && l.Resources.Memory != nil && l.Resources.Memory.Limit != nil {
			es.MemoryLimit = *l.Resources.Memory.Limit
		}
	}
}

// awaitExec waits for the end of the handshake: the sync socket is
// close-on-exec in the process, so EOF means execve succeeded; otherwise
// the process says why it failed.
func (r *Runtime) awaitExec(c *child) error {
	m, _, err := c.sock.next()
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return err
	case m.Type == msgError:
		return &InitError{Msg: m.Error, Errno: unix.Errno(m.Errno)}
	}
	return errors.New("sync: unexpected " + m.Type + " message after start")
}

// forwarded are the signals a foreground run or exec passes on to its
// process. SIGWINCH is not among them: with a terminal, the pty's size
// follows ours instead.
var forwarded = []os.Signal{
	unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGUSR1, unix.SIGUSR2,
	unix.SIGALRM, unix.SIGPWR, unix.SIGCONT,
}

// catchSignals starts catching the signals a user or a supervisor sends,
// to pass them on to the container. Not all 64, as runc does: Go changes
// each signal's disposition through one dedicated thread, a round trip
// per signal, and catching every one cost 3 ms of a 10 ms run (and as much
// again to stop).
func catchSignals() chan os.Signal {
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, forwarded...)
	return sigs
}

// wait relays signals (those caught since catchSignals, too) and the
// terminal until the child exits, and returns how it ended.
func (r *Runtime) wait(c *child, stdio Stdio, sigs chan os.Signal) ExitStatus {
	stdio = stdio.orDefault()
	go func() {
		for s := range sigs {
			c.cmd.Process.Signal(s)
		}
	}()
	var copied chan struct{}
	if c.console != nil {
		restore := proxyConsole(c.console, stdio.Stdin, stdio.Stdout)
		defer restore()
		copied = make(chan struct{})
		go func() {
			io.Copy(stdio.Stdout, c.console) // ends with EIO once no process holds the pty
			close(copied)
		}()
	}
	c.cmd.Wait()
	if copied != nil {
		// Output still in the pty after the process ended; a background
		// process holding the pty open must not keep us here.
		select {
		case <-copied:
		case <-time.After(time.Second):
		}
	}
	return exitStatusOf(c.cmd.ProcessState.Sys().(syscall.WaitStatus))
}
