package explain

import "golang.org/x/sys/unix"

// Now is CLOCK_MONOTONIC in nanoseconds: one clock for every process of
// the system, unlike Go's monotonic readings, which only compare within a
// process.
func Now() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
		return 0
	}
	return ts.Nano()
}
