package runtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/explain"
	"github.com/minirun/minirun/rootfs"
	"github.com/minirun/minirun/runtime/seccomp"
)

// The parent (minirun create, run or exec) and the container's init talk
// over a SOCK_SEQPACKET socket pair: every write is one message, and file
// descriptors (the pty master) travel beside them as SCM_RIGHTS.
//
//	parent (host)                            init (in the new namespaces)
//	  │ ── config ───────────────────────────►  │ decode initConfig
//	  │                                         │ rootfs.Prepare: mounts under the new root
//	  │ ◄────────────────────────── hooks ───   │ (create) namespaces exist, root not yet pivoted
//	  │ run prestart + createRuntime hooks      │
//	  │ ── continue ─────────────────────────►  │ createContainer hooks, pivot_root, sysctls,
//	  │                                         │ masked/read-only paths, hostname
//	  │ ◄────────────── console + pty master ─  │ (process.terminal) pty opened inside
//	  │                                         │ rlimits, cwd, user, capabilities
//	  │ ◄────────────────────────── ready ───   │
//	  │ write state.json and the pid file       │ (create) block opening exec.fifo until start
//	  │                                         │ execve: the socket is close-on-exec, so
//	  │ ◄──────────────── EOF, or error ─────   │ EOF means the user's process runs
//
// Any step of init may instead send "error" and exit; the parent then
// undoes what create made. Between any two of these, init may send "log"
// (a log record) and "explain" (a step for --explain) messages, which the
// parent passes on in the order they came.
const (
	msgConfig   = "config"
	msgHooks    = "hooks"
	msgContinue = "continue"
	msgConsole  = "console"
	msgReady    = "ready"
	msgError    = "error"
	msgLog      = "log"     // a log record of init's, re-logged by the parent
	msgExplain  = "explain" // a step of init's, passed on to the parent's Explain
)

type syncMsg struct {
	Type   string          `json:"type"`
	Error  string          `json:"error,omitempty"`
	Errno  int             `json:"errno,omitempty"` // for exec failures: ENOENT → 127, EACCES → 126
	Config *initConfig     `json:"config,omitempty"`
	Log    json.RawMessage `json:"log,omitempty"`
	Step   *explain.Step   `json:"step,omitempty"`
}

// initConfig is everything init needs: it is a fresh process and knows
// nothing else.
type initConfig struct {
	Mode         string         `json:"mode"` // "create" or "exec"
	State        specs.State    `json:"state"`
	Spec         *specs.Spec    `json:"spec"`
	Process      *specs.Process `json:"process"`
	Rootfs       string         `json:"rootfs,omitempty"`
	NoPivot      bool           `json:"noPivot,omitempty"`
	NoNewKeyring bool           `json:"noNewKeyring,omitempty"`
	NoMountNS    bool           `json:"noMountNS,omitempty"` // no root filesystem setup at all
	// Overlay is mounted on Rootfs in place of binding Rootfs onto itself.
	Overlay *rootfs.Overlay `json:"overlay,omitempty"`
	// UnshareCgroupNS: init was moved into its cgroup after clone, so it
	// makes its cgroup namespace itself, rooted there.
	UnshareCgroupNS bool `json:"unshareCgroupNS,omitempty"`
	PreserveFDs     int  `json:"preserveFDs,omitempty"`
	Debug           bool `json:"debug,omitempty"`
	// Explain: send each step over the socket (msgExplain).
	Explain bool `json:"explain,omitempty"`
	// fds in init, numbered as init sees them.
	FifoFD  int `json:"fifoFD,omitempty"`
	MountNS int `json:"mountNSFD,omitempty"` // a mount namespace to join
	// CgroupNS: exec joins the container's cgroup namespace itself, after
	// it was born in the container's cgroup.
	CgroupNS int `json:"cgroupNSFD,omitempty"`
	RootFD   int `json:"rootFD,omitempty"` // exec: the container's root directory
	// Seccomp is linux.seccomp, compiled by the parent (compileSeccomp).
	Seccomp *seccomp.Program `json:"seccomp,omitempty"`
}

const maxMsg = 1 << 20

type syncSocket struct {
	f *os.File
	// onLog receives init's log records as they arrive, in order with
	// the protocol's own messages.
	onLog func(json.RawMessage)
	// onStep receives init's explained steps, in order with the rest.
	onStep func(explain.Step)
}

func newSyncPair() (parent, child *syncSocket, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	return &syncSocket{f: os.NewFile(uintptr(fds[0]), "sync-parent")},
		&syncSocket{f: os.NewFile(uintptr(fds[1]), "sync-init")}, nil
}

func (s *syncSocket) Close() error { return s.f.Close() }

func (s *syncSocket) send(m syncMsg, fd int) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var oob []byte
	if fd >= 0 {
		oob = unix.UnixRights(fd)
	}
	if err := unix.Sendmsg(int(s.f.Fd()), data, oob, nil, 0); err != nil {
		return fmt.Errorf("send %s message: %w", m.Type, err)
	}
	return nil
}

// recv returns the next message and the fd that came with it (or -1). At
// EOF (the peer closed, or exec'd) it returns io.EOF.
func (s *syncSocket) recv() (syncMsg, int, error) {
	var m syncMsg
	// Peek first: with MSG_TRUNC a seqpacket socket reports the whole
	// message's length, so the buffer fits it exactly.
	size, err := retryEINTR(func() (int, error) {
		n, _, _, _, err := unix.Recvmsg(int(s.f.Fd()), nil, nil, unix.MSG_PEEK|unix.MSG_TRUNC)
		return n, err
	})
	if err != nil {
		return m, -1, fmt.Errorf("receive sync message: %w", err)
	}
	if size > maxMsg {
		return m, -1, fmt.Errorf("receive sync message: %d bytes is too long", size)
	}
	buf := make([]byte, max(size, 1))
	oob := make([]byte, unix.CmsgSpace(4))
	var oobn int
	n, err := retryEINTR(func() (int, error) {
		n, on, _, _, err := unix.Recvmsg(int(s.f.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
		oobn = on
		return n, err
	})
	if err != nil {
		return m, -1, fmt.Errorf("receive sync message: %w", err)
	}
	if n == 0 {
		return m, -1, io.EOF
	}
	fd := -1
	if oobn > 0 {
		cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err == nil && len(cmsgs) > 0 {
			if fds, err := unix.ParseUnixRights(&cmsgs[0]); err == nil && len(fds) > 0 {
				fd = fds[0]
			}
		}
	}
	if err := json.Unmarshal(buf[:n], &m); err != nil {
		return m, fd, fmt.Errorf("decode sync message: %w", err)
	}
	return m, fd, nil
}

func retryEINTR(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if err != unix.EINTR {
			return n, err
		}
	}
}

// expect receives one message of type want; an "error" message becomes an
// *InitError.
func (s *syncSocket) expect(want string) (syncMsg, int, error) {
	m, fd, err := s.next()
	if err != nil {
		return m, fd, err
	}
	if m.Type == msgError {
		return m, fd, &InitError{Msg: m.Error, Errno: unix.Errno(m.Errno)}
	}
	if m.Type != want {
		return m, fd, fmt.Errorf("sync: got %q, want %q", m.Type, want)
	}
	return m, fd, nil
}

// next is recv without the log records and explained steps, which it
// hands to onLog and onStep.
func (s *syncSocket) next() (syncMsg, int, error) {
	for {
		m, fd, err := s.recv()
		switch {
		case err != nil:
			return m, fd, err
		case m.Type == msgLog:
			if s.onLog != nil {
				s.onLog(m.Log)
			}
		case m.Type == msgExplain:
			if s.onStep != nil && m.Step != nil {
				s.onStep(*m.Step)
			}
		default:
			return m, fd, err
		}
	}
}

// explainer is init's end of --explain: a sink whose steps go to the
// parent as messages. Once the parent is gone they are dropped, as log
// records are.
func (s *syncSocket) explainer() *explain.Sink {
	return explain.Forward(func(st explain.Step) {
		s.send(syncMsg{Type: msgExplain, Step: &st}, -1)
	})
}

// Write makes the socket an io.Writer for init's slog handler: each record
// becomes one message. Once the parent is gone (create has returned),
// records are dropped.
func (s *syncSocket) Write(p []byte) (int, error) {
	s.send(syncMsg{Type: msgLog, Log: json.RawMessage(bytes.TrimSpace(p))}, -1)
	return len(p), nil
}

// InitError is a failure reported by the container's init process.
type InitError struct {
	Msg   string
	Errno unix.Errno
}

func (e *InitError) Error() string { return e.Msg }
func (e *InitError) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return e.Errno
}

// IsNotFound reports whether err says the process's executable was not
// found (exit status 127 in a shell) ...
func IsNotFound(err error) bool { return errors.Is(err, unix.ENOENT) }

// ... and IsNotExecutable whether it exists but cannot be run (126).
func IsNotExecutable(err error) bool {
	return errors.Is(err, unix.EACCES) || errors.Is(err, unix.ENOEXEC) || errors.Is(err, unix.EISDIR)
}
