package runtime

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// inheritedFDs is the first fd number that was free when minirun started:
// fds 3 .. inheritedFDs-1 are the ones its caller passed. It is taken
// before main runs, so no fd of minirun's own (state dir locks, the log
// file) is counted: --preserve-fds must never hand one of those to a
// container.
var inheritedFDs = firstFreeFD()

func firstFreeFD() int {
	fd, err := unix.Dup(0) // dup(2) returns the lowest free number
	if err != nil {
		return 3
	}
	unix.Close(fd)
	return fd
}

// checkPreserved makes sure fds 3 .. 3+n-1 came from the caller.
func checkPreserved(n int) error {
	if n < 0 {
		return fmt.Errorf("--preserve-fds %d: must not be negative", n)
	}
	if n > 0 && 3+n > inheritedFDs {
		return fmt.Errorf("--preserve-fds %d: only %d fds after stdio were passed to minirun", n, max(inheritedFDs-3, 0))
	}
	return nil
}
