package runtime

import (
	"bytes"
	"os"
	"strconv"
	"strings"
)

// ProcessCommand is pid's command line as ps(1) shows it, or its name in
// brackets for a process without one.
func ProcessCommand(pid int) string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err == nil && len(data) > 0 {
		return strings.TrimSpace(string(bytes.ReplaceAll(data, []byte{0}, []byte{' '})))
	}
	comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return "[" + strings.TrimSpace(string(comm)) + "]"
}
