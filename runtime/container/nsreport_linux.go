package container

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NamespaceReport reads what makes r's running process a container (see
// nsreport.go). A stopped container has no process to read.
func (m *Manager) NamespaceReport(r *Record) (*NSReport, error) {
	pid, err := m.livePid(r)
	if err != nil {
		return nil, err
	}
	rep, err := ProcessReport(pid)
	if err != nil {
		return nil, fmt.Errorf("inspect container %s: %w", r.Name, err)
	}
	// A pid names a process only while it lives: the container may have
	// exited while it was read, and its pid gone to another process. The
	// runtime checks the pid against init's start time, so the same pid
	// from it now means everything read was the container's.
	if again, err := m.livePid(r); err != nil || again != pid {
		return nil, fmt.Errorf("inspect container %s: it exited while being read", r.Name)
	}
	rep.ID, rep.Name = r.ID, r.Name
	return rep, nil
}

func (m *Manager) livePid(r *Record) (int, error) {
	notRunning := fmt.Errorf("container %s is not running: --ns needs a live process", r.Name)
	if !m.Running(r) {
		return 0, notRunning
	}
	cs, err := m.rt.State(r.ID)
	if err != nil || cs.Pid <= 0 { // the runtime gives no pid once stopped
		return 0, notRunning
	}
	return cs.Pid, nil
}

// ProcessReport reads pid's view of the kernel: its namespaces, cgroup
// and limits, capabilities, seccomp mode, id maps and interfaces.
func ProcessReport(pid int) (*NSReport, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return nil, err
	}
	st, err := parseStatus(string(status))
	if err != nil {
		return nil, err
	}
	rep := &NSReport{Pid: pid, NSpid: st.NSpid, Capabilities: st.capabilities(), Seccomp: st.seccomp()}

	// The host is pid 1 of minirun's own pid namespace: the init that
	// every process here descends from, and whose namespaces are the
	// ones a process has when nothing unshared any. minirun itself may
	// be in namespaces of its own (started by `unshare --net`, or by a
	// test in its own network namespace): those are shown too, because
	// --network host shares minirun's network namespace, not pid 1's.
	ctr, err := readNamespaces(dir)
	if err != nil {
		return nil, err
	}
	// Reading another process's ns links takes ptrace access to it
	// (ptrace(2), PTRACE_MODE_READ_FSCREDS): where pid 1 holds
	// capabilities minirun lacks, or a security module guards it, the
	// kernel refuses, and the report goes on without the host's column.
	host, err := readNamespaces("/proc/1")
	if errors.Is(err, fs.ErrPermission) {
		rep.HostError = err.Error()
	} else if err != nil {
		return nil, err
	}
	self, err := readNamespaces("/proc/self")
	if err != nil {
		return nil, err
	}
	rep.Namespaces = compareNamespaces(ctr, host, self)

	for _, f := range []struct {
		name string
		out  *[]IDMap
	}{{"uid_map", &rep.UIDMap}, {"gid_map", &rep.GIDMap}} {
		b, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil {
			return nil, err
		}
		if *f.out, err = parseIDMap(string(b)); err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
	}

	if rep.Cgroup, err = readCgroup(dir); err != nil {
		return nil, err
	}

	// /proc/PID/root is left out on purpose: readlink on it gives the
	// root's path as seen from minirun's mount namespace, and the
	// container's root (an overlay mounted in its own mount namespace
	// only) has no path there, so the kernel says "/".
	rep.Network.Namespace = ctr["net"]
	for _, n := range rep.Namespaces {
		if n.Type == "net" {
			rep.Network.Shared = n.Shared
		}
	}
	if rep.Network.Interfaces, err = interfaces(filepath.Join(dir, "ns", "net")); err != nil {
		return nil, err
	}
	return rep, nil
}

// readNamespaces reads the links of dir/ns: type → "net:[4026531833]".
// A type this kernel lacks (time before 5.6) is absent.
func readNamespaces(dir string) (map[string]string, error) {
	out := map[string]string{}
	for _, typ := range namespaceTypes {
		link, err := os.Readlink(filepath.Join(dir, "ns", typ))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[typ] = link
	}
	return out, nil
}

// readCgroup reads dir/cgroup, finds those cgroups' directories through
// minirun's mountinfo, and reads their limit files.
func readCgroup(dir string) (CgroupView, error) {
	var v CgroupView
	b, err := os.ReadFile(filepath.Join(dir, "cgroup"))
	if err != nil {
		return v, err
	}
	lines, err := parseProcCgroup(string(b))
	if err != nil {
		return v, err
	}
	for _, l := range lines {
		v.Lines = append(v.Lines, fmt.Sprintf("%s:%s:%s", l.Hierarchy, strings.Join(l.Controllers, ","), l.Path))
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return v, err
	}
	dirs := cgroupDirs(lines, parseCgroupMounts(string(mi)))
	files := map[string]string{}
	for _, f := range limitFiles(dirs) {
		p := filepath.Join(dirs[f.Hierarchy], f.Name)
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // a controller not enabled there (v2 on a hybrid host)
		}
		if err != nil {
			return v, err
		}
		files[p] = string(b)
	}
	v.Limits, err = parseLimits(files)
	return v, err
}

// interfaces lists the links and addresses of the network namespace at
// nsPath. The netlink handle is bound to that namespace (its socket made
// there), so no thread of minirun moves into it for longer than the
// socket(2) call: setns(2) is per thread, and a Go thread left in another
// namespace would run any goroutine there.
func interfaces(nsPath string) ([]Interface, error) {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", nsPath, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink in %s: %w", nsPath, err)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	out := []Interface{}
	for _, l := range links {
		a := l.Attrs()
		i := Interface{Index: a.Index, Name: a.Name, Type: l.Type(), State: a.OperState.String(), MTU: a.MTU, Addresses: []string{}}
		if len(a.HardwareAddr) > 0 {
			i.MAC = net.HardwareAddr(a.HardwareAddr).String()
		}
		addrs, err := h.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return nil, fmt.Errorf("list addresses of %s: %w", a.Name, err)
		}
		for _, ad := range addrs {
			i.Addresses = append(i.Addresses, ad.IPNet.String())
		}
		out = append(out, i)
	}
	return out, nil
}
