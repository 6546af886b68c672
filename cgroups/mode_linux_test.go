package cgroups

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// TestDetect compares Detect with the mount table: the filesystem type
// mounted at /sys/fs/cgroup, and at /sys/fs/cgroup/unified. It needs no
// root.
func TestDetect(t *testing.T) {
	types := mountTypes(t)
	var want Mode
	switch {
	case types["/sys/fs/cgroup"] == "cgroup2":
		want = Unified
	case types["/sys/fs/cgroup"] == "tmpfs" && types["/sys/fs/cgroup/unified"] == "cgroup2":
		want = Hybrid
	case types["/sys/fs/cgroup"] == "tmpfs":
		want = Legacy
	default:
		t.Skipf("no cgroup filesystem at /sys/fs/cgroup (%q)", types["/sys/fs/cgroup"])
	}
	got, err := Detect(DefaultRoot)
	if err != nil || got != want {
		t.Errorf("Detect = %v, %v; the mount table says %v", got, err, want)
	}
	if _, err := Detect("/proc"); err == nil || !strings.Contains(err.Error(), "neither cgroup2 nor tmpfs") {
		t.Errorf("Detect(/proc) err = %v", err)
	}
	if _, err := Detect("/does/not/exist"); err == nil {
		t.Error("Detect(missing) gave no error")
	}
}

// mountTypes maps mount points to filesystem types, from
// /proc/self/mountinfo (the last mount on a point wins, as it hides the
// ones below).
func mountTypes(t *testing.T) map[string]string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	types := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw
		pre, post, ok := strings.Cut(s.Text(), " - ")
		fields, after := strings.Fields(pre), strings.Fields(post)
		if ok && len(fields) >= 5 && len(after) >= 1 {
			types[fields[4]] = after[0]
		}
	}
	return types
}
