package runtime

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ParseSignal accepts what runc accepts: a name with or without "SIG"
// (TERM, SIGTERM, sigterm), a number (15), or a real-time signal
// (RTMIN+3, SIGRTMAX-1).
func ParseSignal(s string) (unix.Signal, error) {
	if s == "" {
		return unix.SIGTERM, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > sigRTMAX {
			return 0, fmt.Errorf("invalid signal %q", s)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	for _, base := range []struct {
		prefix string
		n      int
		sign   int
	}{{"SIGRTMIN+", sigRTMIN, 1}, {"SIGRTMAX-", sigRTMAX, -1}, {"SIGRTMIN", sigRTMIN, 0}, {"SIGRTMAX", sigRTMAX, 0}} {
		rest, ok := strings.CutPrefix(name, base.prefix)
		if !ok {
			continue
		}
		off := 0
		if base.sign != 0 {
			var err error
			if off, err = strconv.Atoi(rest); err != nil || off < 0 {
				return 0, fmt.Errorf("invalid signal %q", s)
			}
		} else if rest != "" {
			continue
		}
		n := base.n + base.sign*off
		if n < sigRTMIN || n > sigRTMAX {
			return 0, fmt.Errorf("invalid signal %q", s)
		}
		return unix.Signal(n), nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

// The real-time signal range as user programs see it: glibc and musl keep
// 32 and 33 for themselves, so SIGRTMIN is 34.
const (
	sigRTMIN = 34
	sigRTMAX = 64
)

// SignalName is the name of sig for messages ("SIGKILL").
func SignalName(sig unix.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return n
	}
	return "signal " + strconv.Itoa(int(sig))
}
