package crashpoint

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// The test binary re-runs itself with MINIRUN_CRASH_AT set; the child
// hits every point in order and says which it got past.
const childEnv = "MINIRUN_CRASHPOINT_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		for _, p := range Points {
			Hit(p)
			os.Stdout.WriteString(p + "\n")
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestHit(t *testing.T) {
	tests := []struct {
		at     string
		passed string // what the child printed before it died
		killed bool
	}{
		{at: "", passed: "state-dir\ncgroup\nmount\nnetwork\nstart\n"},
		{at: "nowhere", passed: "state-dir\ncgroup\nmount\nnetwork\nstart\n"},
		{at: StateDir, passed: "", killed: true},
		{at: Cgroup, passed: "state-dir\n", killed: true},
		{at: Mount, passed: "state-dir\ncgroup\n", killed: true},
		{at: Network, passed: "state-dir\ncgroup\nmount\n", killed: true},
		{at: Start, passed: "state-dir\ncgroup\nmount\nnetwork\n", killed: true},
	}
	for _, tt := range tests {
		t.Run("at="+tt.at, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"=1", Env+"="+tt.at)
			out, err := cmd.Output()
			if string(out) != tt.passed {
				t.Errorf("got past %q, want %q", out, tt.passed)
			}
			var ee *exec.ExitError
			switch {
			case tt.killed && !errors.As(err, &ee):
				t.Errorf("exit: %v, want killed by SIGKILL", err)
			case tt.killed:
				if ws := ee.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
					t.Errorf("exit: %v, want killed by SIGKILL", err)
				}
			case err != nil:
				t.Errorf("exit: %v, want 0", err)
			}
		})
	}
}
