package test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// openPty allocates a pseudo-terminal with plain ioctls (pty(7)): open
// /dev/ptmx, unlock the slave (TIOCSPTLCK), ask its number (TIOCGPTN). The
// master is non-blocking so reads on it honour deadlines.
func openPty(t *testing.T) (master, slave *os.File, name string) {
	t.Helper()
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	master = os.NewFile(uintptr(fd), "/dev/ptmx")
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	name = fmt.Sprintf("/dev/pts/%d", n)
	slave, err = os.OpenFile(name, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave, name
}

// readAll collects what a pty master yields until the slave side is gone
// (EIO) or the deadline passes, and sends it once.
func readAll(master *os.File, d time.Duration) <-chan string {
	ch := make(chan string, 1)
	master.SetReadDeadline(time.Now().Add(d))
	go func() {
		var sb strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				ch <- sb.String()
				return
			}
		}
	}()
	return ch
}

// readUntil reads a pty master until it has seen every want, or d passes.
func readUntil(master *os.File, d time.Duration, want ...string) (string, error) {
	master.SetReadDeadline(time.Now().Add(d))
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := master.Read(buf)
		sb.Write(buf[:n])
		done := true
		for _, w := range want {
			done = done && strings.Contains(sb.String(), w)
		}
		if done {
			return sb.String(), nil
		}
		if err != nil {
			return sb.String(), err
		}
	}
}

// TestConsoleSocket: with process.terminal and --console-socket, the
// runtime sends the pty master over the socket (SCM_RIGHTS) during create,
// as podman's conmon and containerd's shim expect.
func TestConsoleSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	l.SetDeadline(time.Now().Add(rtTimeout))

	type recv struct {
		master *os.File
		err    error
	}
	got := make(chan recv, 1)
	go func() {
		f, err := receiveFd(l)
		got <- recv{f, err}
	}()

	b := newBundle(t, func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.Args = []string{"/bin/sh", "-c", "tty; echo hello"}
	})
	c := create(t, b, "--console-socket", sock)
	var m recv
	select {
	case m = <-got:
	case <-time.After(5 * time.Second):
		t.Fatalf("create returned but no pty master arrived on %s", sock)
	}
	if m.err != nil {
		t.Fatalf("receive pty master: %v", m.err)
	}
	t.Cleanup(func() { m.master.Close() })

	mustRT(t, "start", c.id)
	out, err := readUntil(m.master, 10*time.Second, "hello")
	if err != nil && !errors.Is(err, unix.EIO) {
		t.Logf("read pty master: %v", err)
	}
	if !strings.Contains(out, "/dev/pts/0") || !strings.Contains(out, "hello") {
		t.Errorf("console output %q, want /dev/pts/0 and hello", out)
	}
	waitStatus(t, c.id, "stopped")
	if b, _ := os.ReadFile(c.stdout); len(b) != 0 {
		t.Errorf("with a terminal, output still reached create's stdout: %q", b)
	}
	mustRT(t, "delete", c.id)
}

// receiveFd accepts one connection and returns the fd it carries.
func receiveFd(l *net.UnixListener) (*os.File, error) {
	conn, err := l.AcceptUnix()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(rtTimeout))
	buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4*4))
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, err
	}
	var fds []int
	for _, msg := range msgs {
		rights, err := unix.ParseUnixRights(&msg)
		if err == nil {
			fds = append(fds, rights...)
		}
	}
	if len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("got %d fds over the console socket, want 1", len(fds))
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fds[0]), "pty-master"), nil
}
