package container

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// ReaperName is the name minirun answers to as --init's pid 1: the
// binary is bind-mounted read-only at /sbin/minirun-init.
//
// Pid 1 of a pid namespace has two duties an ordinary program does not
// expect (pid_namespaces(7)): every orphan in the namespace becomes its
// child, so it must wait(2) for them or they stay zombies; and the kernel
// delivers it only the signals it has a handler for, so a SIGTERM meant
// for a program that never installed one is dropped. The reaper runs the
// real command as its child, passes every catchable signal on to it, reaps
// every child, and exits as the command did.
const ReaperName = "minirun-init"

// IsReaper reports whether this process runs as --init's reaper.
func IsReaper() bool { return filepath.Base(os.Args[0]) == ReaperName }

// Reaper is the reaper's body: argv is minirun-init -- CMD [ARG...]. It
// never returns.
func Reaper() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "minirun-init: no command")
		os.Exit(127)
	}
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// Its own process group in the foreground, so a terminal's ^C
	// reaches it as it would without --init.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Foreground: isTerminal(0), Ctty: 0}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "minirun-init:", err)
		if os.IsNotExist(err) || isNotFound(err) {
			os.Exit(127)
		}
		os.Exit(126)
	}
	child := cmd.Process.Pid
	for s := range sigs {
		sig := s.(syscall.Signal)
		if sig != unix.SIGCHLD {
			if sig != unix.SIGURG { // the Go runtime's own preemption signal
				unix.Kill(child, sig)
			}
			continue
		}
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
			if pid == child {
				if ws.Signaled() {
					os.Exit(128 + int(ws.Signal()))
				}
				os.Exit(ws.ExitStatus())
			}
		}
	}
}

func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

func isNotFound(err error) bool {
	e, ok := err.(*exec.Error)
	return ok && e.Err == exec.ErrNotFound
}

// initBinary is the file --init bind-mounts into containers: a copy of
// minirun under the store, never minirun itself. A bind mount is
// read-only only until a privileged container remounts it, and a writable
// minirun would let one container replace the runtime of the host
// (CVE-2019-5736 was that, through /proc/self/exe). The copy is shared by
// every container and named after its content.
func (m *Manager) initBinary(self string) (string, error) {
	data, err := os.ReadFile(self)
	if err != nil {
		return "", fmt.Errorf("--init: %w", err)
	}
	sum := sha256.Sum256(data)
	dir := filepath.Join(m.store.Root(), "init")
	dst := filepath.Join(dir, fmt.Sprintf("%s-%x", ReaperName, sum[:8]))
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o555)
	}
	if err == nil {
		err = os.Rename(f.Name(), dst)
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("--init: %w", err)
	}
	return dst, nil
}
