package runtime

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// procStat is the part of /proc/PID/stat (proc(5)) that minirun reads.
type procStat struct {
	State     byte   // field 3: R, S, D, Z (zombie), ...
	StartTime uint64 // field 22: start time, clock ticks after boot
	ExitCode  int    // field 52: wait(2) status once the process is a zombie
}

// parseProcStat parses the text of /proc/PID/stat. The command name (field
// 2) is in parentheses and may itself hold spaces and parentheses, so the
// fields are counted from the last ')'.
func parseProcStat(data []byte) (procStat, error) {
	var st procStat
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return st, fmt.Errorf("parse /proc/PID/stat: no command field")
	}
	fields := strings.Fields(string(data[i+2:]))
	// fields[0] is field 3 of proc(5).
	if len(fields) < 20 {
		return st, fmt.Errorf("parse /proc/PID/stat: %d fields", len(fields)+2)
	}
	st.State = fields[0][0]
	var err error
	if st.StartTime, err = strconv.ParseUint(fields[22-3], 10, 64); err != nil {
		return st, fmt.Errorf("parse /proc/PID/stat starttime: %w", err)
	}
	if len(fields) >= 52-2 {
		st.ExitCode, _ = strconv.Atoi(fields[52-3])
	}
	return st, nil
}

func readProcStat(pid int) (procStat, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(data)
}

// alive reports whether the process pid is still the one that started at
// start (pids are reused) and has not exited. A zombie has exited: only its
// parent has yet to collect the status.
func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	st, err := readProcStat(pid)
	return err == nil && st.StartTime == start && st.State != 'Z' && st.State != 'X'
}

// lockFile holds a flock(2) on a state directory. Every command that
// changes a container takes it exclusively, so two `minirun kill` and a
// `minirun delete` of one container run one after the other.
type lockFile struct{ fd int }

func lockDir(dir string, how int) (*lockFile, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	for {
		err = unix.Flock(fd, how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "flock", Path: dir, Err: err}
	}
	return &lockFile{fd: fd}, nil
}

func (l *lockFile) unlock() {
	if l != nil && l.fd >= 0 {
		unix.Close(l.fd) // closing the last fd drops the flock
		l.fd = -1
	}
}
