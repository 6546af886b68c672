package cgroups

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// procCgroup is /proc/self/cgroup, parsed (see cgroups(7)). Each line is
// "hierarchy-ID:controller-list:cgroup-path": "0::/user.slice" for the v2
// hierarchy, "4:memory:/process_api/x" or "1:cpu,cpuacct:/" for v1 ones.
type procCgroup struct {
	// Unified is the cgroup path in the v2 hierarchy; HasUnified tells
	// whether there was a "0::" line at all.
	Unified    string
	HasUnified bool
	// V1 maps each v1 controller to its hierarchy.
	V1 map[string]v1Hierarchy
}

// v1Hierarchy is one v1 line: the controllers mounted together and the
// process's cgroup in that hierarchy.
type v1Hierarchy struct {
	Controllers []string // "cpu", "cpuacct" for a "cpu,cpuacct" line
	Path        string
}

// parseProcCgroup parses the text of /proc/<pid>/cgroup. Named hierarchies
// without controllers ("name=systemd") are skipped: minirun does not use
// them.
func parseProcCgroup(text string) (procCgroup, error) {
	pc := procCgroup{V1: map[string]v1Hierarchy{}}
	for line := range strings.Lines(text) {
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			continue
		}
		id, rest, ok1 := strings.Cut(line, ":")
		list, p, ok2 := strings.Cut(rest, ":")
		if !ok1 || !ok2 || id == "" || !strings.HasPrefix(p, "/") {
			return procCgroup{}, fmt.Errorf("parse /proc/self/cgroup: malformed line %q", line)
		}
		if id == "0" && list == "" {
			pc.Unified, pc.HasUnified = p, true
			continue
		}
		var ctrls []string
		for c := range strings.SplitSeq(list, ",") {
			if c != "" && !strings.Contains(c, "=") {
				ctrls = append(ctrls, c)
			}
		}
		for _, c := range ctrls {
			pc.V1[c] = v1Hierarchy{Controllers: ctrls, Path: p}
		}
	}
	return pc, nil
}

// errRootPath is returned for a cgroups path that names a hierarchy's root:
// no container may own it.
var errRootPath = errors.New("names the root cgroup")

// containerPath turns linux.cgroupsPath into a clean slash path and whether
// it is absolute (from the hierarchy root) or relative (to the caller's own
// cgroup). An empty path means "minirun/<id>", relative.
func containerPath(p, id string) (clean string, abs bool, err error) {
	if p == "" {
		if id == "" || strings.ContainsAny(id, "/\x00") || id == "." || id == ".." {
			return "", false, fmt.Errorf("cgroup path from container id %q: want a non-empty name without slashes", id)
		}
		return "minirun/" + id, false, nil
	}
	if strings.Contains(p, ":") {
		return "", false, fmt.Errorf("linux.cgroupsPath %q: the systemd form slice:prefix:name is not supported (minirun manages cgroups itself)", p)
	}
	if strings.ContainsRune(p, 0) {
		return "", false, fmt.Errorf("linux.cgroupsPath %q: contains a NUL byte", p)
	}
	for elem := range strings.SplitSeq(p, "/") {
		if elem == ".." {
			return "", false, fmt.Errorf("linux.cgroupsPath %q: \"..\" is not allowed", p)
		}
	}
	abs = strings.HasPrefix(p, "/")
	clean = path.Clean(p)
	if clean == "/" || clean == "." {
		return "", false, fmt.Errorf("linux.cgroupsPath %q: %w", p, errRootPath)
	}
	return strings.TrimPrefix(clean, "/"), abs, nil
}

// join puts a container path below a hierarchy's mount point: mount
// ("/sys/fs/cgroup/memory"), base (the caller's cgroup in that hierarchy,
// used only for relative paths) and the container's clean path p.
//
// A base with ".." in it means the caller sits outside its own cgroup
// namespace (cgroup_namespaces(7)); the path would climb above the mount,
// so that is an error rather than something to clean away.
func join(mount, base, p string, abs bool) (string, error) {
	if abs {
		return path.Join(mount, p), nil
	}
	for elem := range strings.SplitSeq(base, "/") {
		if elem == ".." {
			return "", fmt.Errorf("cgroup path relative to %q: the caller is outside its cgroup namespace", base)
		}
	}
	return path.Join(mount, base, p), nil
}
