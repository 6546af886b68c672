package network

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/minirun/minirun/internal/testenv"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// realNS is the network namespace the test binary started in: the
// machine's own, which no test may change. TestMain checks afterwards that
// nothing of minirun's was left there.
var realNS = -1

func TestMain(m *testing.M) {
	if fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
		realNS = fd
	}
	code := m.Run()
	if os.Geteuid() == 0 && realNS >= 0 {
		if leaks := leaksIn(realNS); len(leaks) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: tests left minirun objects in the real network namespace: %s\n", strings.Join(leaks, ", "))
			code = 1
		}
	}
	os.Exit(code)
}

// leaksIn lists links and tables with minirun's names in a namespace.
// It only reads.
func leaksIn(nsfd int) []string {
	var leaks []string
	h, err := netlink.NewHandleAt(netns.NsHandle(nsfd), unix.NETLINK_ROUTE)
	if err != nil {
		return []string{"cannot check links: " + err.Error()}
	}
	defer h.Close()
	links, _ := h.LinkList()
	for _, l := range links {
		if name := l.Attrs().Name; strings.HasPrefix(name, BridgePrefix) || strings.HasPrefix(name, VethPrefix) {
			leaks = append(leaks, "link "+name)
		}
	}
	c, err := nftables.New(nftables.WithNetNSFd(nsfd))
	if err != nil {
		return append(leaks, "cannot check nftables: "+err.Error())
	}
	tables, _ := c.ListTables()
	for _, t := range tables {
		if t.Name == TableName {
			leaks = append(leaks, "nftables table "+t.Name)
		}
	}
	return leaks
}

// nsThread is a goroutine locked to an OS thread that lives in a network
// namespace of the test's own. Functions given to Do run on that thread,
// so the sockets they create and the /proc/sys/net they see belong to
// that namespace. The thread is never unlocked: when the test ends the
// goroutine returns and the Go runtime ends the thread with it.
type nsThread struct {
	fd   int    // the namespace, held open
	path string // a path naming it while the thread lives
	do   chan func()
}

// newNS makes a new, empty network namespace (only lo, down) and a thread
// in it. With path set, the thread joins that namespace instead.
func newNS(t testing.TB, path string) *nsThread {
	t.Helper()
	n := &nsThread{do: make(chan func())}
	errc := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked, see nsThread
		var err error
		if path == "" {
			err = os.NewSyscallError("unshare(CLONE_NEWNET)", unix.Unshare(unix.CLONE_NEWNET))
		} else {
			var fd int
			if fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
				err = os.NewSyscallError("setns", unix.Setns(fd, unix.CLONE_NEWNET))
				unix.Close(fd)
			}
		}
		if err == nil {
			n.fd, err = unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			n.path = fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		}
		if err == nil && sameNS(n.fd, realNS) {
			err = fmt.Errorf("thread is still in the real network namespace")
		}
		errc <- err
		if err != nil {
			return
		}
		for f := range n.do {
			f()
		}
	}()
	if err := <-errc; err != nil {
		testenv.SkipOrFail(t, "cannot make a network namespace: "+err.Error())
	}
	t.Cleanup(func() {
		close(n.do)
		unix.Close(n.fd)
	})
	return n
}

// Do runs f on the namespace's thread and waits for it.
func (n *nsThread) Do(f func()) {
	done := make(chan struct{})
	n.do <- func() { defer close(done); f() }
	<-done
}

// handle returns a netlink handle in the namespace.
func (n *nsThread) handle(t testing.TB) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(netns.NsHandle(n.fd), unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func sameNS(a, b int) bool {
	if a < 0 || b < 0 {
		return false
	}
	var sa, sb unix.Stat_t
	return unix.Fstat(a, &sa) == nil && unix.Fstat(b, &sb) == nil && sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// sleeper starts a process in a new network namespace, standing in for a
// container, and returns the path of its namespace. It is killed by PID
// when the test ends. No Pdeathsig: that signal follows the forking
// thread, not the process, and the nsThreads of a test end their threads;
// the sleep is bounded instead, in case the test binary dies first.
func sleeper(t testing.TB) string {
	t.Helper()
	cmd := exec.Command("/bin/sleep", "1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start container stand-in: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid)
}

// env is a Manager whose host is a throwaway namespace.
type env struct {
	host *nsThread
	m    *Manager
}

func newEnv(t testing.TB) *env {
	t.Helper()
	testenv.RequireRoot(t)
	e := &env{host: newNS(t, "")}
	root := t.TempDir()
	var err error
	e.host.Do(func() { e.m, err = Open(root) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.m.Close() })
	e.m.Logger = slog.New(slog.NewTextHandler(testLog{t}, nil))
	if sameNS(e.m.host.fd, realNS) {
		t.Fatal("Manager opened in the real network namespace")
	}
	// A new namespace's lo is down; 127.0.0.1 needs it up.
	h := e.host.handle(t)
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// ctr is a container stand-in wired by the Manager.
type ctr struct {
	lease *Lease
	ns    *nsThread
}

func (e *env) container(t testing.TB, network string, ports ...PortMapping) *ctr {
	t.Helper()
	path := sleeper(t)
	l, err := e.m.Allocate(context.Background(), AllocRequest{ContainerID: newID(), Network: network, Ports: ports})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.m.Attach(context.Background(), l, path); err != nil {
		t.Fatal(err)
	}
	return &ctr{lease: l, ns: newNS(t, path)}
}

// testLog sends the Manager's log to the test's.
type testLog struct{ t testing.TB }

func (w testLog) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// serve listens on addr in ns and answers every connection with the
// address it came from, so a test sees what NAT did to the source.
func serve(t testing.TB, ns *nsThread, addr string) net.Addr {
	t.Helper()
	var ln net.Listener
	var err error
	ns.Do(func() { ln, err = net.Listen("tcp4", addr) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s\n", c.RemoteAddr().(*net.TCPAddr).IP)
			c.Close()
		}
	}()
	return ln.Addr()
}

// ask connects to addr from ns and returns the source address the server
// saw.
func ask(ns *nsThread, addr string, timeout time.Duration) (string, error) {
	var c net.Conn
	var err error
	ns.Do(func() { c, err = net.DialTimeout("tcp4", addr, timeout) })
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}
