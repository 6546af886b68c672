package runtime

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"

	"golang.org/x/sys/unix"
)

// setupConsole gives the process a pseudo-terminal (pty(7)) made inside
// the container: /dev/ptmx there is the container's own devpts instance, so
// the pty belongs to it. The slave becomes stdio and the controlling
// terminal; the master goes to the parent, which hands it to whoever asked
// (--console-socket) or copies it to its own terminal.
func setupConsole(sock *syncSocket, log *slog.Logger) error {
	master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: "/dev/ptmx", Err: err}
	}
	defer unix.Close(master)
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		return os.NewSyscallError("ioctl(TIOCSPTLCK)", err)
	}
	n, err := unix.IoctlGetInt(master, unix.TIOCGPTN)
	if err != nil {
		return os.NewSyscallError("ioctl(TIOCGPTN)", err)
	}
	slave, err := openPeer(master, n)
	if err != nil {
		return err
	}
	defer unix.Close(slave)
	for fd := 0; fd <= 2; fd++ {
		if err := unix.Dup3(slave, fd, 0); err != nil {
			return os.NewSyscallError("dup3", err)
		}
	}
	// The parent started init in a new session (setsid), so it may take
	// the pty as its controlling terminal: ^C then reaches the process.
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		return os.NewSyscallError("ioctl(TIOCSCTTY)", err)
	}
	log.Debug(fmt.Sprintf("open(/dev/ptmx) → /dev/pts/%d as stdin/stdout/stderr and controlling tty", n))
	return sock.send(syncMsg{Type: msgConsole}, master)
}

// openPeer opens the slave of the pty master, number n.
//
// TIOCGPTPEER (Linux 4.13) opens it from the master itself, with no path
// looked up: the container's /dev/pts/N could lead elsewhere (an image's
// own /dev when no devpts is mounted, or, for exec, a mount a process of
// the container made), and whatever it led to would become the process's
// stdio and controlling terminal. runc's CVE-2025-52565 was a swapped
// /dev/pts/N and /dev/console. Older kernels answer ENOTTY or EINVAL; only
// there the path is opened, as before.
func openPeer(master, n int) (int, error) {
	fd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(master), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno == 0 {
		return int(fd), nil
	}
	if errno != unix.ENOTTY && errno != unix.EINVAL {
		return -1, os.NewSyscallError("ioctl(TIOCGPTPEER)", errno)
	}
	p := "/dev/pts/" + strconv.Itoa(n)
	slave, err := unix.Open(p, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return slave, nil
}

// sendConsole hands the pty master to the listener at path, as runc does:
// one message over a unix socket, the fd in SCM_RIGHTS.
func sendConsole(path string, master *os.File) error {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return fmt.Errorf("connect to console socket: %w", err)
	}
	defer conn.Close()
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("console socket %s is not a unix socket", path)
	}
	_, _, err = uc.WriteMsgUnix([]byte(master.Name()), unix.UnixRights(int(master.Fd())), nil)
	if err != nil {
		return fmt.Errorf("send pty master to %s: %w", path, err)
	}
	return nil
}

// proxyConsole copies between our own stdio and the pty master until the
// process's side closes, with our terminal in raw mode (so ^C travels as a
// byte to the container's line discipline, which signals the container's
// foreground process) and its size followed on SIGWINCH.
func proxyConsole(master *os.File, stdin, stdout *os.File) (restore func()) {
	restore = func() {}
	if st, err := unix.IoctlGetTermios(int(stdin.Fd()), unix.TCGETS); err == nil {
		raw := *st
		raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		raw.Oflag &^= unix.OPOST
		raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		raw.Cflag &^= unix.CSIZE | unix.PARENB
		raw.Cflag |= unix.CS8
		raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
		if unix.IoctlSetTermios(int(stdin.Fd()), unix.TCSETS, &raw) == nil {
			restore = func() { unix.IoctlSetTermios(int(stdin.Fd()), unix.TCSETS, st) }
		}
		resize := func() {
			if ws, err := unix.IoctlGetWinsize(int(stdin.Fd()), unix.TIOCGWINSZ); err == nil {
				unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, ws)
			}
		}
		resize()
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, unix.SIGWINCH)
		go func() {
			for range winch {
				resize()
			}
		}()
	}
	go io.Copy(master, stdin)
	return restore
}
