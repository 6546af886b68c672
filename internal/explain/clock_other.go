//go:build !linux

package explain

import "time"

var start = time.Now()

// Now is nanoseconds since this process started: elsewhere than Linux no
// step crosses a process boundary.
func Now() int64 { return int64(time.Since(start)) + 1 }
