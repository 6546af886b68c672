package runtime

import (
	"errors"
	"fmt"
	"os"
	goruntime "runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// nsKinds maps the spec's namespace types to clone(2) flags and to their
// names under /proc/PID/ns.
var nsKinds = map[specs.LinuxNamespaceType]struct {
	flag uintptr
	proc string
}{
	specs.PIDNamespace:     {unix.CLONE_NEWPID, "pid"},
	specs.NetworkNamespace: {unix.CLONE_NEWNET, "net"},
	specs.MountNamespace:   {unix.CLONE_NEWNS, "mnt"},
	specs.IPCNamespace:     {unix.CLONE_NEWIPC, "ipc"},
	specs.UTSNamespace:     {unix.CLONE_NEWUTS, "uts"},
	specs.UserNamespace:    {unix.CLONE_NEWUSER, "user"},
	specs.CgroupNamespace:  {unix.CLONE_NEWCGROUP, "cgroup"},
	specs.TimeNamespace:    {unix.CLONE_NEWTIME, "time"},
}

// ErrUnsupported marks configurations minirun refuses rather than
// half-applies.
var ErrUnsupported = fmt.Errorf("not supported by minirun")

// nsJoin is an existing namespace to enter with setns(2).
type nsJoin struct {
	fd   *os.File
	flag int
	what string
}

// namespacePlan splits the spec's namespaces into clone flags (new ones)
// and namespaces to join (those given by path).
func namespacePlan(l *specs.Linux) (cloneFlags uintptr, joins []nsJoin, mountNS *os.File, err error) {
	if l == nil {
		return 0, nil, nil, nil
	}
	defer func() {
		if err != nil {
			closeJoins(joins)
			if mountNS != nil {
				mountNS.Close()
			}
		}
	}()
	for _, ns := range l.Namespaces {
		kind, ok := nsKinds[ns.Type]
		if !ok {
			return 0, nil, nil, fmt.Errorf("unknown namespace type %q", ns.Type)
		}
		switch {
		case ns.Type == specs.TimeNamespace:
			// A time namespace takes effect for children only, after its
			// offsets are written: clone(2) cannot make one.
			return 0, nil, nil, fmt.Errorf("%s namespace: %w", ns.Type, ErrUnsupported)
		case ns.Type == specs.UserNamespace && ns.Path != "":
			// setns(2) refuses to move a multithreaded process into a user
			// namespace, and every Go process is one.
			return 0, nil, nil, fmt.Errorf("joining an existing user namespace: %w", ErrUnsupported)
		}
		if ns.Path == "" {
			cloneFlags |= kind.flag
			continue
		}
		f, err := os.Open(ns.Path)
		if err != nil {
			return 0, nil, nil, fmt.Errorf("open %s namespace: %w", ns.Type, err)
		}
		if ns.Type == specs.MountNamespace {
			mountNS = f
			continue
		}
		joins = append(joins, nsJoin{fd: f, flag: int(kind.flag), what: string(ns.Type) + " " + ns.Path})
	}
	return cloneFlags, joins, mountNS, nil
}

func closeJoins(joins []nsJoin) {
	for _, j := range joins {
		j.fd.Close()
	}
}

// startJoined starts cmd from a thread that first entered the namespaces
// in joins, and the cgroups enterCgroup moves it into (nil: none): a child
// inherits both from the thread that forks it. setns(CLONE_NEWPID) only
// changes the pid namespace of the caller's future children, so this is
// the only way from Go (no cgo, no code before the runtime starts) to start
// a process inside an existing pid namespace; for cgroups see
// cgroups.Manager.EnterThread.
//
// A thread that joined namespaces stays locked and is never unlocked: it
// now lives in the container's namespaces, and the Go runtime ends a locked
// thread when its goroutine exits instead of handing it to other
// goroutines. A thread that only visited the cgroups goes back to the pool
// once it has left them.
func startJoined(start func() error, joins []nsJoin, enterCgroup func() (func() error, error)) error {
	if len(joins) == 0 && enterCgroup == nil {
		return start()
	}
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		leave := func() error { return nil }
		if enterCgroup != nil {
			var err error
			if leave, err = enterCgroup(); err != nil {
				errc <- fmt.Errorf("%w: %w", errThreadCgroup, err)
				return
			}
		}
		for _, j := range joins {
			if err := unix.Setns(int(j.fd.Fd()), j.flag); err != nil {
				leave()
				errc <- fmt.Errorf("setns %s: %w", j.what, err)
				return
			}
		}
		err := start()
		if leave() == nil && len(joins) == 0 {
			goruntime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// errThreadCgroup marks a failure to move the forking thread into the
// container's cgroups: nothing was started, and moving init in after the
// fork may still work.
var errThreadCgroup = errors.New("enter the container's cgroup from the forking thread")
