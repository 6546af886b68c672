package runtime

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/cgroups"
	"github.com/minirun/minirun/internal/explain"
)

// explainer is init's sink: the sync socket when the parent explains,
// else nil (off).
func (c *initConfig) explainer(sock *syncSocket) *explain.Sink {
	if !c.Explain {
		return nil
	}
	return sock.explainer()
}

// namespaceKinds are the namespaces clone(2) may make, with the flag, the
// name of the file in /proc/PID/ns and the man page of each.
var namespaceKinds = []struct {
	flag uintptr
	file string
	man  string
}{
	{unix.CLONE_NEWUSER, "user", "user_namespaces(7)"},
	{unix.CLONE_NEWNS, "mnt", "mount_namespaces(7)"},
	{unix.CLONE_NEWPID, "pid", "pid_namespaces(7)"},
	{unix.CLONE_NEWUTS, "uts", "uts_namespaces(7)"},
	{unix.CLONE_NEWIPC, "ipc", "ipc_namespaces(7)"},
	{unix.CLONE_NEWNET, "net", "network_namespaces(7)"},
	{unix.CLONE_NEWCGROUP, "cgroup", "cgroup_namespaces(7)"},
}

// nsInode is the inode number of a namespace file under dirfd ("self/ns/net"
// under a procfs fd): two processes are in the same namespace exactly
// when these are equal (namespaces(7)).
func nsInode(dirfd int, name string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, 0); err != nil {
		return 0, &os.PathError{Op: "stat", Path: name, Err: err}
	}
	return st.Ino, nil
}

// explainClone tells how init was started: the clone flags, the
// namespaces joined first, and the inode of each new namespace, read back
// from /proc/PID/ns right after clone, so that a person can compare them
// with `ls -l /proc/PID/ns` or lsns(8).
func (r *Runtime) explainClone(sys *syscall.SysProcAttr, pid int, joins []nsJoin) {
	ex := r.Explain
	for _, j := range joins {
		ex.Stepf(explain.PhaseClone, "setns(2), namespaces(7)", "setns(%s) on the thread that forks: init starts in that namespace", j.what)
	}
	inodes := map[string]uint64{}
	var made []string
	for _, k := range namespaceKinds {
		if sys.Cloneflags&k.flag == 0 {
			continue
		}
		st, err := statNS(pid, k.file)
		if err != nil {
			continue
		}
		inodes[k.file] = st
		made = append(made, fmt.Sprintf("%s:[%d]", k.file, st))
	}
	if len(made) == 0 {
		made = []string{"none (exec joins the container's)"}
	}
	how := "clone"
	if sys.UseCgroupFD {
		how = "clone3"
	}
	ex.Step(explain.Step{
		Phase: explain.PhaseClone,
		Text: fmt.Sprintf("%s(%s) = %d, then execve(/proc/self/fd/N, [minirun init]); new namespaces: %s",
			how, cloneFlagNames(sys.Cloneflags), pid, strings.Join(made, " ")),
		Man:    "clone(2), namespaces(7)",
		Fields: map[string]any{"op": "clone", "pid": pid, "flags": cloneFlagNames(sys.Cloneflags), "ns": inodes},
	})
	for _, k := range namespaceKinds {
		if ino, ok := inodes[k.file]; ok {
			ex.Stepf(explain.PhaseClone, k.man, "  %s namespace %s:[%d] (ls -l /proc/%d/ns/%s)", k.file, k.file, ino, pid, k.file)
		}
	}
}

func statNS(pid int, file string) (uint64, error) {
	return nsInode(unix.AT_FDCWD, "/proc/"+strconv.Itoa(pid)+"/ns/"+file)
}

// explainSeccomp summarizes the filter: the profile's default action and
// rules, as the spec gives them, and the program the parent compiled.
func explainSeccomp(ex *explain.Sink, c *initConfig, when string) {
	if !ex.Enabled() || c.Seccomp == nil {
		return
	}
	var def string
	var rules, names int
	if l := c.Spec.Linux; l != nil && l.Seccomp != nil {
		def = string(l.Seccomp.DefaultAction)
		rules = len(l.Seccomp.Syscalls)
		for _, s := range l.Seccomp.Syscalls {
			names += len(s.Names)
		}
	}
	ex.Step(explain.Step{
		Phase: explain.PhaseProcess,
		Text: fmt.Sprintf("seccomp(SECCOMP_SET_MODE_FILTER, %#x): default %s, %d rules over %d system calls, %d BPF instructions for %s; installed %s",
			c.Seccomp.Flags, def, rules, names, c.Seccomp.Len(), c.Seccomp.Arch, when),
		Man: "seccomp(2), Documentation/userspace-api/seccomp_filter.rst",
		Fields: map[string]any{"op": "seccomp", "defaultAction": def, "rules": rules, "syscalls": names,
			"instructions": c.Seccomp.Len()},
	})
}

// explainCgroupEntry tells how init came to be in its cgroup, which
// decides whether any of its code ever ran outside the limits.
func (r *Runtime) explainCgroupEntry(cg *cgroups.Manager, pid int, bornIn, forkedIn bool) {
	dirs := cg.State().Dirs
	var list []string
	for _, d := range dirs {
		list = append(list, d)
	}
	sort.Strings(list)
	var text string
	switch {
	case bornIn:
		text = fmt.Sprintf("clone3(CLONE_INTO_CGROUP, fd of %s): init is born in its cgroup", strings.Join(list, " "))
	case forkedIn:
		text = fmt.Sprintf("the forking thread moved itself into %s first (the writes of 0 to tasks above): init is born there, then the thread moved back", strings.Join(list, " "))
	default:
		text = fmt.Sprintf("write %d to cgroup.procs in %s: init moved in before it reads its config", pid, strings.Join(list, " "))
	}
	r.Explain.Step(explain.Step{Phase: explain.PhaseCgroup, Text: text, Man: "cgroups(7), clone(2)",
		Fields: map[string]any{"op": "enter", "pid": pid, "dirs": dirs}})
}
