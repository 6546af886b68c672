package runtime

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A detached container's init is not minirun's child once create returns:
// it belongs to whoever called create (conmon and containerd's shim are
// subreapers and wait(2) for it themselves). Only that reaper learns the
// exit status. To still record why the container stopped, create leaves a
// small monitor behind: `minirun` re-exec'd with MonitorArg, holding a
// pidfd of init. When the pidfd polls readable (init exited) it reads the
// status, from /proc/PID/stat while init is a zombie, or, once the reaper
// has collected it, from the pidfd itself (PIDFD_GET_INFO with
// PIDFD_INFO_EXIT, Linux 6.15 and later), and writes exit.json. It is not
// init's parent, so the reaper sees the same process tree as with runc.
//
// Before Linux 6.15 a reaper that collects init at once (conmon, the
// containerd shim) races the monitor for the zombie, and the status may
// go unrecorded; minirun then says only "stopped", as runc always does.

// MonitorArg is argv[1] of the monitor process.
const MonitorArg = "monitor"

const envMonitorDir = "_MINIRUN_MONITOR_DIR"

// IsMonitor reports whether this process was started as a monitor.
func IsMonitor() bool {
	return len(os.Args) > 1 && os.Args[1] == MonitorArg && os.Getenv(envMonitorDir) != ""
}

// startMonitor leaves a monitor for rec behind. Failing to start one is not
// fatal: the container works, only its exit status may go unrecorded.
func (r *Runtime) startMonitor(rec *record) {
	pfd, err := unix.PidfdOpen(rec.Pid, 0)
	if err != nil {
		r.Log.Warn("no exit monitor", "err", err)
		return
	}
	pidfd := os.NewFile(uintptr(pfd), "pidfd")
	defer pidfd.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return
	}
	defer devnull.Close()
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{"minirun", MonitorArg, rec.ID},
		Env:        []string{envMonitorDir + "=" + r.dir(rec.ID), "_MINIRUN_MONITOR_START=" + strconv.FormatUint(rec.PidStart, 10), "_MINIRUN_MONITOR_PID=" + strconv.Itoa(rec.Pid)},
		Stdin:      devnull,
		Stdout:     devnull,
		Stderr:     devnull,
		ExtraFiles: []*os.File{pidfd},
		// Its own session: a ^C meant for the caller must not end it.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := cmd.Start(); err != nil {
		r.Log.Warn("no exit monitor", "err", err)
		return
	}
	cmd.Process.Release()
	r.Log.Debug("exit monitor started", "pid", cmd.Process.Pid)
}

// Monitor is the monitor process's body; it never returns.
func Monitor() {
	dir := os.Getenv(envMonitorDir)
	pid, _ := strconv.Atoi(os.Getenv("_MINIRUN_MONITOR_PID"))
	start, _ := strconv.ParseUint(os.Getenv("_MINIRUN_MONITOR_START"), 10, 64)
	const pidfd = 3
	fds := []unix.PollFd{{Fd: pidfd, Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); err != unix.EINTR {
			break
		}
	}
	for i := 0; i < 200; i++ {
		if st, err := readProcStat(pid); err == nil && st.StartTime == start && st.State == 'Z' {
			recordExit(dir, exitStatusOf(syscall.WaitStatus(st.ExitCode)))
			os.Exit(0)
		}
		if code, ok := pidfdExitCode(pidfd); ok {
			recordExit(dir, exitStatusOf(syscall.WaitStatus(code)))
			os.Exit(0)
		}
		time.Sleep(5 * time.Millisecond) // between exit and reap
	}
	os.Exit(1)
}

// recordExit writes exit.json under the state dir's lock, unless the
// container was deleted meanwhile or someone recorded it first.
func recordExit(dir string, es ExitStatus) {
	lock, err := lockDir(dir, unix.LOCK_EX)
	if err != nil {
		return
	}
	defer lock.unlock()
	if _, err := os.Stat(filepath.Join(dir, recordFile)); err != nil {
		return
	}
	if _, err := os.Stat(filepath.Join(dir, exitFile)); err == nil {
		return
	}
	var rec record
	if readJSON(filepath.Join(dir, recordFile), &rec) == nil {
		New("", nil).noteOOM(&rec, &es)
	}
	writeJSON(dir, exitFile, es)
}

// pidfdInfo is struct pidfd_info of <linux/pidfd.h> up to exit_code
// (PIDFD_INFO_SIZE_VER0, 64 bytes).
type pidfdInfo struct {
	Mask                                                uint64
	CgroupID                                            uint64
	Pid, Tgid, Ppid, Ruid, Rgid, Euid, Egid, Suid, Sgid uint32
	Fsuid, Fsgid                                        uint32
	ExitCode                                            int32
}

const (
	pidfdInfoExit = 1 << 3
	// _IOWR(PIDFS_IOCTL_MAGIC 0xFF, 11, struct pidfd_info of 64 bytes)
	pidfdGetInfo = 0xC0000000 | 64<<16 | 0xFF<<8 | 11
)

// pidfdExitCode asks the kernel for the wait status of a reaped process.
func pidfdExitCode(pidfd int) (int, bool) {
	info := pidfdInfo{Mask: pidfdInfoExit}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(pidfd), pidfdGetInfo, uintptr(unsafe.Pointer(&info)))
	if e != 0 || info.Mask&pidfdInfoExit == 0 {
		return 0, false
	}
	return int(info.ExitCode), true
}
