package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// hostNS is the network namespace a Manager works in, held open so that
// it stays the same namespace even if the thread that opened it moves.
type hostNS struct {
	fd       int
	dev, ino uint64
}

// Open returns a Manager keeping its state under root (created if
// missing). The calling thread's network namespace becomes the Manager's
// host namespace: a caller that runs minirun inside a namespace of its
// own (tests do) calls Open from a thread locked in it.
func Open(root string) (*Manager, error) {
	if err := os.MkdirAll(filepath.Join(root, "leases"), 0o700); err != nil {
		return nil, fmt.Errorf("open network state: %w", err)
	}
	// /proc/thread-self, not /proc/self: namespaces belong to threads,
	// and /proc/self is the thread group leader's view.
	fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open network state: %w", &os.PathError{Op: "open", Path: "/proc/thread-self/ns/net", Err: err})
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("open network state: %w", os.NewSyscallError("fstat", err))
	}
	return &Manager{root: root, host: hostNS{fd: fd, dev: st.Dev, ino: st.Ino}, Logger: slog.Default()}, nil
}

// Close releases the Manager's hold on its namespace. It changes nothing
// on the host.
func (m *Manager) Close() error {
	if m.host.fd <= 0 {
		return nil
	}
	err := unix.Close(m.host.fd)
	m.host.fd = -1
	return err
}

// lock takes ROOT/lock with flock(2). Every call opens the file anew:
// flock belongs to an open file description, so goroutines of one process
// exclude each other the same way separate processes do. Waiting polls,
// so that ctx can end the wait.
func (m *Manager) lock(ctx context.Context) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(m.root, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock network state: %w", err)
	}
	fd := int(f.Fd())
	wait := 100 * time.Microsecond
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing the file drops the lock
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock network state: %w", &os.PathError{Op: "flock", Path: f.Name(), Err: err})
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock network state: %w", ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Millisecond)
	}
}

// inHostNS runs fn on a thread in the Manager's namespace. Sockets are
// created in their creator's namespace and /proc/sys/net shows the
// reader's namespace, so both need the right thread. The calling thread
// serves when it is already there (always, outside tests). Otherwise the
// calling goroutine, locked to its thread, joins the namespace with
// setns(2), runs fn and joins its old namespace again; if that fails the
// thread stays locked and the Go runtime ends it with the goroutine, so no
// other goroutine ever runs in the wrong namespace. Restoring rather than
// always discarding the thread matters: a thread that ends sends
// Pdeathsig to the children it forked.
func (m *Manager) inHostNS(fn func() error) error {
	runtime.LockOSThread()
	if m.onHostThread() {
		defer runtime.UnlockOSThread()
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		old, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- &os.PathError{Op: "open", Path: "/proc/thread-self/ns/net", Err: err}
			return
		}
		defer unix.Close(old)
		if err := unix.Setns(m.host.fd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- os.NewSyscallError("setns", err)
			return
		}
		ferr := fn()
		if err := unix.Setns(old, unix.CLONE_NEWNET); err != nil {
			errc <- os.NewSyscallError("setns back", err) // thread stays locked and dies
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	runtime.UnlockOSThread()
	return <-errc
}

func (m *Manager) onHostThread() bool {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return false
	}
	return st.Dev == m.host.dev && st.Ino == m.host.ino
}

// setSysctl writes value to /proc/sys/<key> in the host namespace unless
// it already holds it, and reports whether it changed anything.
func (m *Manager) setSysctl(key, value string) (changed bool, err error) {
	path := filepath.Join("/proc/sys", key)
	err = m.inHostNS(func() error {
		old, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(old)) == value {
			return nil
		}
		changed = true
		return os.WriteFile(path, []byte(value), 0)
	})
	if err != nil {
		return false, fmt.Errorf("set sysctl %s: %w", strings.ReplaceAll(key, "/", "."), err)
	}
	return changed, nil
}
