package crashpoint

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Hit kills this process with SIGKILL if point is the one MINIRUN_CRASH_AT
// names, and does nothing otherwise.
func Hit(point string) {
	if point != at {
		return
	}
	unix.Kill(os.Getpid(), unix.SIGKILL)
	// SIGKILL sent to oneself ends every thread before kill(2) returns
	// (signal(7)); should this one run on all the same, it must not go on
	// to the next step.
	for {
		time.Sleep(time.Hour)
	}
}
