package rootfs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MountInfo is one line of /proc/self/mountinfo (proc(5)):
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//	id parent dev root point options [optional...] - fstype source super-options
type MountInfo struct {
	ID, Parent int
	Root       string
	Point      string
	// Optional are the propagation fields: "shared:N" (a peer group),
	// "master:N" (a slave of one), "unbindable"; none for private.
	Optional []string
	FSType   string
	Source   string
	// SuperOptions are the filesystem's own options: for a cgroup v1
	// hierarchy, its controllers.
	SuperOptions []string
}

// ParseMountInfo parses the text of /proc/PID/mountinfo. It is pure, so
// that what reads the file and what judges it can be tested apart.
func ParseMountInfo(text string) ([]MountInfo, error) {
	var ms []MountInfo
	for line := range strings.Lines(text) {
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			continue
		}
		before, after, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(before), strings.Fields(after)
		if !ok || len(f) < 6 || len(g) < 2 {
			return nil, fmt.Errorf("parse mountinfo: malformed line %q", line)
		}
		id, err1 := strconv.Atoi(f[0])
		parent, err2 := strconv.Atoi(f[1])
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("parse mountinfo: line %q: %w", line, err)
		}
		ms = append(ms, MountInfo{
			ID: id, Parent: parent,
			Root: unescape(f[3]), Point: unescape(f[4]),
			Optional: f[6:],
			FSType:   g[0], Source: unescape(g[1]),
		})
		if len(g) > 2 {
			ms[len(ms)-1].SuperOptions = strings.Split(g[2], ",")
		}
	}
	if len(ms) == 0 {
		return nil, errors.New("parse mountinfo: no mounts")
	}
	return ms, nil
}

// unescape undoes the octal escapes (\040 for a space, \011, \012, \134)
// the kernel writes for the bytes that would break a mountinfo line.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
