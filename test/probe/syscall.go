package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// `probe syscall CALL [ARGS]` makes one system call a seccomp filter may
// deny and prints its outcome on one line: "ok", or the errno's name
// ("EPERM"), so that tests can tell the filter's EPERM from the kernel's
// own refusal (a mount without CAP_SYS_ADMIN fails too, but later: the
// kernel looks up the mount point first, so a missing one gives ENOENT
// when no filter stands in the way). It exits 0 whenever the call was made,
// 2 on a usage error.
//
//	unshare-user    unshare(CLONE_NEWUSER). The probe has threads, which
//	                the kernel refuses with EINVAL when no filter does.
//	clone-newuser   clone(CLONE_NEWUSER) of a child that exits at once
//	                (the probe again, as `probe syscall getpid`).
//	mount           mount of a tmpfs on a directory that does not exist.
//	keyctl          keyctl(KEYCTL_GET_KEYRING_ID, the session keyring).
//	mkdir PATH      mkdir(PATH, 0755).
//	fork            fork and exec of a child that exits at once, as
//	                os/exec does it (clone with CLONE_VM|CLONE_VFORK).
//	getpid          getpid.
//	raw NR [ARG...] system call number NR with up to six numeric
//	                arguments (the rest 0); only for calls a test knows
//	                the filter denies, or harmless ones.
//	getpid-loop N   N raw getpid calls, timed: prints
//	                "N calls in T ns: X ns/call".
func init() {
	modes["syscall"] = syscallMode
}

func syscallMode(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: probe syscall unshare-user|clone-newuser|fork|mount|keyctl|mkdir PATH|getpid|getpid-loop N|raw NR [ARG...]")
		return 2
	}
	var err error
	switch call := args[0]; call {
	case "unshare-user":
		err = unix.Unshare(unix.CLONE_NEWUSER)
	case "clone-newuser":
		cmd := exec.Command("/proc/self/exe", "syscall", "getpid")
		// Go's fork uses clone(2), not clone3, for these flags: the call
		// the filter's argument rule sees.
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER}
		if err = cmd.Start(); err == nil {
			err = cmd.Wait()
		}
	case "fork":
		err = exec.Command("/proc/self/exe", "syscall", "getpid").Run()
	case "raw":
		var nr [7]uintptr
		if len(args) < 2 || len(args) > 8 {
			fmt.Fprintln(os.Stderr, "usage: probe syscall raw NR [ARG...]")
			return 2
		}
		for i, a := range args[1:] {
			v, perr := strconv.ParseUint(a, 0, 64)
			if perr != nil {
				fmt.Fprintf(os.Stderr, "probe syscall raw: %q is not a number\n", a)
				return 2
			}
			nr[i] = uintptr(v)
		}
		_, _, e := unix.Syscall6(nr[0], nr[1], nr[2], nr[3], nr[4], nr[5], nr[6])
		if e != 0 {
			err = e
		}
	case "mount":
		err = unix.Mount("tmpfs", "/nonexistent-probe-mount-point", "tmpfs", 0, "")
	case "keyctl":
		_, err = unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
	case "mkdir":
		if len(args) != 2 {
			fmt.Fprintln(os.Stderr, "usage: probe syscall mkdir PATH")
			return 2
		}
		err = unix.Mkdir(args[1], 0o755)
	case "getpid":
		_, _, e := unix.RawSyscall(unix.SYS_GETPID, 0, 0, 0)
		if e != 0 {
			err = e
		}
	case "getpid-loop":
		n, perr := strconv.Atoi(args[len(args)-1])
		if len(args) != 2 || perr != nil || n <= 0 {
			fmt.Fprintln(os.Stderr, "usage: probe syscall getpid-loop N")
			return 2
		}
		// RawSyscall: the kernel's entry and exit, and the filter run on
		// each, without the Go scheduler's bookkeeping around a call.
		start := time.Now()
		for range n {
			unix.RawSyscall(unix.SYS_GETPID, 0, 0, 0)
		}
		d := time.Since(start)
		fmt.Printf("%d calls in %d ns: %.2f ns/call\n", n, d.Nanoseconds(), float64(d.Nanoseconds())/float64(n))
		return 0
	default:
		fmt.Fprintf(os.Stderr, "probe syscall: unknown call %q\n", call)
		return 2
	}
	fmt.Println(outcome(err))
	return 0
}

// outcome is "ok" for no error, else the errno's name, else the error.
func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		if name := unix.ErrnoName(errno); name != "" {
			return name
		}
		return "errno " + strconv.Itoa(int(errno))
	}
	return err.Error()
}
