package container

import (
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/minirun/minirun/rootfs"
	"github.com/minirun/minirun/runtime/spec"
)

// `minirun inspect --ns` shows what makes a process a container, as the
// kernel itself tells it under /proc/PID: its namespaces beside the host's
// (namespaces(7)), its cgroup and limits (cgroups(7)), its capability sets
// (capabilities(7)), its seccomp mode (seccomp(2)), its id maps
// (user_namespaces(7)) and the interfaces of its network namespace. None of
// it comes from minirun's own records: a container is nothing more than
// this view, and the report shows it.
//
// This file parses and lays out; nsreport_linux.go reads. Every parser
// here takes the text the kernel gives (proc(5)), so the tests feed it
// captured text.

// namespaceTypes are the entries of /proc/PID/ns, in ls order. The
// *_for_children ones are the namespaces the process's next children get
// (after unshare(2) of CLONE_NEWPID or CLONE_NEWTIME, the caller stays in
// its own).
var namespaceTypes = []string{"cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time", "time_for_children", "user", "uts"}

// Values of Namespace.Shared.
const (
	SharedNo      = "no"      // a namespace of its own
	SharedHost    = "host"    // the host's (pid 1's)
	SharedMinirun = "minirun" // minirun's own, where that is not the host's
)

// NSReport is a running container as the kernel sees it.
type NSReport struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Pid is the container's init in minirun's pid namespace; NSpid is
	// its pid in each pid namespace it is in, outermost first: the last
	// one is what the container's own ps shows (1).
	Pid   int   `json:"pid"`
	NSpid []int `json:"nspid"`
	// Namespaces compares /proc/PID/ns with /proc/1/ns (the host) and
	// /proc/self/ns (minirun).
	Namespaces []Namespace `json:"namespaces"`
	// HostError says why pid 1's namespaces could not be read; Host is
	// then "" in each Namespace.
	HostError string `json:"hostError,omitempty"`
	// UIDMap and GIDMap are /proc/PID/uid_map and gid_map: "0 0
	// 4294967295" is the identity map, no user namespace of its own.
	UIDMap       []IDMap      `json:"uidMap"`
	GIDMap       []IDMap      `json:"gidMap"`
	Cgroup       CgroupView   `json:"cgroup"`
	Capabilities Capabilities `json:"capabilities"`
	Seccomp      SeccompView  `json:"seccomp"`
	Network      NetworkView  `json:"network"`
}

// Namespace is one entry of /proc/PID/ns: the link's text, "net:[4026532
// 123]", names the namespace by its inode in the nsfs; two processes are
// in the same namespace exactly when their links read the same.
type Namespace struct {
	Type      string `json:"type"`
	Container string `json:"container"` // "" when this kernel lacks the type
	Host      string `json:"host"`
	Minirun   string `json:"minirun"`
	Shared    string `json:"shared"` // SharedNo, SharedHost or SharedMinirun
}

// IDMap is one line of uid_map or gid_map: Count ids from Inside (in the
// process's user namespace) map to Outside (in the reader's).
type IDMap struct {
	Inside  uint32 `json:"inside"`
	Outside uint32 `json:"outside"`
	Count   uint32 `json:"count"`
}

// CgroupView is /proc/PID/cgroup and the limits of the cgroups it names.
type CgroupView struct {
	// Lines are /proc/PID/cgroup as the kernel wrote it: one
	// "ID:controllers:path" line per v1 hierarchy and "0::path" for v2.
	// Paths are relative to the reader's cgroup namespace, so minirun,
	// in the host's, sees where the cgroup really is; the container, in
	// its own, sees "/".
	Lines  []string     `json:"lines"`
	Limits CgroupLimits `json:"limits"`
}

// CgroupLimits are the limits in force, read from the cgroup files. 0
// means no limit.
type CgroupLimits struct {
	MemoryMax uint64 `json:"memoryMax"` // bytes
	// CPUQuota of CPU time per CPUPeriod, in microseconds: a quota of
	// half the period is half a CPU.
	CPUQuota  uint64 `json:"cpuQuotaUsec"`
	CPUPeriod uint64 `json:"cpuPeriodUsec"`
	PidsMax   uint64 `json:"pidsMax"`
	// Files are the files the limits were read from.
	Files []string `json:"files"`
}

// CapSet is one capability set: the mask /proc/PID/status shows and the
// capabilities in it.
type CapSet struct {
	Mask  string   `json:"mask"` // 16 hex digits, as in /proc/PID/status
	Names []string `json:"names"`
}

// Capabilities are the five sets of capabilities(7). Effective is what
// the kernel checks; Bounding caps what execve can ever grant.
type Capabilities struct {
	Effective   CapSet `json:"effective"`
	Permitted   CapSet `json:"permitted"`
	Inheritable CapSet `json:"inheritable"`
	Bounding    CapSet `json:"bounding"`
	Ambient     CapSet `json:"ambient"`
}

// SeccompView is the Seccomp, Seccomp_filters and NoNewPrivs lines of
// /proc/PID/status.
type SeccompView struct {
	Mode     int    `json:"mode"`     // 0 disabled, 1 strict, 2 filter
	ModeName string `json:"modeName"` // disabled, strict or filter
	// Filters counts the BPF programs attached (Linux 5.9 and later; -1
	// where the kernel does not say).
	Filters    int  `json:"filters"`
	NoNewPrivs bool `json:"noNewPrivs"`
}

// NetworkView is what the container's network namespace holds.
type NetworkView struct {
	Namespace string `json:"namespace"`
	// Shared repeats the net entry of Namespaces: with --network host
	// these are the host's own interfaces.
	Shared     string      `json:"shared"`
	Interfaces []Interface `json:"interfaces"`
}

// Interface is one link in the namespace and its addresses (CIDR).
type Interface struct {
	Index     int      `json:"index"`
	Name      string   `json:"name"`
	Type      string   `json:"type"`  // veth, device (lo), bridge, ...
	State     string   `json:"state"` // operstate: up, down, unknown (lo)
	MAC       string   `json:"mac,omitempty"`
	MTU       int      `json:"mtu"`
	Addresses []string `json:"addresses"`
}

// compareNamespaces pairs the container's links with the host's and
// minirun's. Each map is type → link text, as readlink(2) on /proc/PID/ns
// gives it; a type missing from ctr is one this kernel does not have.
func compareNamespaces(ctr, host, self map[string]string) []Namespace {
	out := make([]Namespace, 0, len(namespaceTypes))
	for _, typ := range namespaceTypes {
		n := Namespace{Type: typ, Container: ctr[typ], Host: host[typ], Minirun: self[typ], Shared: SharedNo}
		switch {
		case n.Container == "":
			continue
		case n.Container == n.Host:
			n.Shared = SharedHost
		case n.Container == n.Minirun:
			n.Shared = SharedMinirun
		}
		out = append(out, n)
	}
	return out
}

// procStatus is what the report takes from /proc/PID/status.
type procStatus struct {
	NSpid      []int
	Caps       [5]uint64 // CapInh, CapPrm, CapEff, CapBnd, CapAmb
	Seccomp    int
	Filters    int // -1: no Seccomp_filters line
	NoNewPrivs bool
	hasSeccomp bool
}

var capKeys = [5]string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}

// parseStatus parses the "Key:\tvalue" lines of /proc/PID/status that the
// report needs. The capability lines are required (every kernel since
// 2.6.26 writes the five of them, CapAmb since 4.3); the others are
// optional, for kernels without seccomp or before NSpid (4.1).
func parseStatus(text string) (procStatus, error) {
	s := procStatus{Filters: -1}
	seen := map[string]bool{}
	for line := range strings.Lines(text) {
		key, val, ok := strings.Cut(strings.TrimSuffix(line, "\n"), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		var err error
		switch key {
		case "NSpid":
			for f := range strings.FieldsSeq(val) {
				n, e := strconv.Atoi(f)
				if e != nil {
					err = e
					break
				}
				s.NSpid = append(s.NSpid, n)
			}
		case "Seccomp":
			s.Seccomp, err = strconv.Atoi(val)
			s.hasSeccomp = true
		case "Seccomp_filters":
			s.Filters, err = strconv.Atoi(val)
		case "NoNewPrivs":
			s.NoNewPrivs = val == "1"
		default:
			i := slices.Index(capKeys[:], key)
			if i < 0 {
				continue
			}
			s.Caps[i], err = strconv.ParseUint(val, 16, 64)
			seen[key] = true
		}
		if err != nil {
			return procStatus{}, fmt.Errorf("parse status line %s: %w", key, err)
		}
	}
	for _, k := range capKeys {
		if !seen[k] {
			return procStatus{}, fmt.Errorf("parse status: no %s line", k)
		}
	}
	return s, nil
}

// capNames lists the capabilities in mask by their names (CAP_CHOWN, ...),
// in bit order. A bit the table does not know, a newer kernel's
// capability, is named by its number: "CAP_41".
func capNames(mask uint64) []string {
	names := []string{}
	for bit := range 64 {
		if mask&(1<<bit) == 0 {
			continue
		}
		if bit < len(spec.CapabilityNames) {
			names = append(names, spec.CapabilityNames[bit])
		} else {
			names = append(names, "CAP_"+strconv.Itoa(bit))
		}
	}
	return names
}

func capSet(mask uint64) CapSet {
	return CapSet{Mask: fmt.Sprintf("%016x", mask), Names: capNames(mask)}
}

func (s procStatus) capabilities() Capabilities {
	return Capabilities{
		Inheritable: capSet(s.Caps[0]), Permitted: capSet(s.Caps[1]), Effective: capSet(s.Caps[2]),
		Bounding: capSet(s.Caps[3]), Ambient: capSet(s.Caps[4]),
	}
}

var seccompModes = []string{"disabled", "strict", "filter"}

func (s procStatus) seccomp() SeccompView {
	v := SeccompView{Mode: s.Seccomp, Filters: s.Filters, NoNewPrivs: s.NoNewPrivs}
	switch {
	case !s.hasSeccomp:
		v.ModeName = "not built in this kernel"
	case s.Seccomp >= 0 && s.Seccomp < len(seccompModes):
		v.ModeName = seccompModes[s.Seccomp]
	default:
		v.ModeName = "mode " + strconv.Itoa(s.Seccomp)
	}
	return v
}

// parseIDMap parses uid_map or gid_map: "inside outside count" per line.
func parseIDMap(text string) ([]IDMap, error) {
	out := []IDMap{}
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("parse id map line %q: want 3 fields", strings.TrimSpace(line))
		}
		var n [3]uint32
		for i := range f {
			v, err := strconv.ParseUint(f[i], 10, 32)
			if err != nil {
				return nil, fmt.Errorf("parse id map line %q: %w", strings.TrimSpace(line), err)
			}
			n[i] = uint32(v)
		}
		out = append(out, IDMap{Inside: n[0], Outside: n[1], Count: n[2]})
	}
	return out, nil
}

// cgroupLine is one line of /proc/PID/cgroup.
type cgroupLine struct {
	Hierarchy   string   // "0" for v2
	Controllers []string // v1: "cpu", "cpuacct"; a named one: "name=systemd"
	Path        string
}

func parseProcCgroup(text string) ([]cgroupLine, error) {
	var out []cgroupLine
	for line := range strings.Lines(text) {
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			continue
		}
		id, rest, ok1 := strings.Cut(line, ":")
		list, p, ok2 := strings.Cut(rest, ":")
		if !ok1 || !ok2 || !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("parse cgroup line %q: want ID:CONTROLLERS:/PATH", line)
		}
		l := cgroupLine{Hierarchy: id, Path: p}
		if list != "" {
			l.Controllers = strings.Split(list, ",")
		}
		out = append(out, l)
	}
	return out, nil
}

// cgroupMount is a cgroup or cgroup2 line of /proc/self/mountinfo.
type cgroupMount struct {
	Root, Point string
	V2          bool
	Options     []string // super options: the controllers of a v1 one
}

// parseCgroupMounts keeps the cgroup mounts of a mountinfo text
// (proc(5)). A v1 hierarchy's controllers are in its super options. A
// text that does not parse has none.
func parseCgroupMounts(text string) []cgroupMount {
	ms, err := rootfs.ParseMountInfo(text)
	if err != nil {
		return nil
	}
	var out []cgroupMount
	for _, m := range ms {
		if m.FSType != "cgroup" && m.FSType != "cgroup2" {
			continue
		}
		out = append(out, cgroupMount{Root: m.Root, Point: m.Point, V2: m.FSType == "cgroup2", Options: m.SuperOptions})
	}
	return out
}

// cgroupDirs finds, for each /proc/PID/cgroup line, the directory of that
// cgroup in this mount namespace: the hierarchy's mount point joined with
// the path below the mount's root. Keys are "" for v2 and the controller
// list ("cpu,cpuacct") for v1. Both texts show paths relative to the
// reader's cgroup namespace, so they agree with each other. A hierarchy
// that is not mounted here is left out.
func cgroupDirs(lines []cgroupLine, mounts []cgroupMount) map[string]string {
	dirs := map[string]string{}
	for _, l := range lines {
		for _, m := range mounts {
			if m.V2 != (l.Hierarchy == "0" && l.Controllers == nil) {
				continue
			}
			if !m.V2 && !containsAll(m.Options, l.Controllers) {
				continue
			}
			rel, ok := below(l.Path, m.Root)
			if !ok {
				continue // a bind mount of a part of the hierarchy
			}
			dirs[strings.Join(l.Controllers, ",")] = path.Join(m.Point, rel)
			break
		}
	}
	return dirs
}

func containsAll(set, want []string) bool {
	for _, w := range want {
		if !slices.Contains(set, w) {
			return false
		}
	}
	return len(want) > 0
}

// below returns p relative to root, if p is root or under it.
func below(p, root string) (string, bool) {
	if root == "/" {
		return p, true
	}
	if p == root {
		return "/", true
	}
	rest, ok := strings.CutPrefix(p, root+"/")
	return "/" + rest, ok
}

// limitFile is a file a limit is read from, and which limit.
type limitFile struct {
	Hierarchy string // key of cgroupDirs: "" (v2), "memory", ...
	Name      string
}

// limitFiles lists the files that hold the limits, given the hierarchies
// found: on v2 (a "" key with controllers enabled) memory.max, cpu.max and
// pids.max; on v1 the memory, cpu and pids hierarchies' files. A hybrid
// host's v2 hierarchy has no controllers: its files simply do not exist,
// and the v1 ones count.
func limitFiles(dirs map[string]string) []limitFile {
	var out []limitFile
	if _, ok := dirs[""]; ok {
		out = append(out, limitFile{"", "memory.max"}, limitFile{"", "cpu.max"}, limitFile{"", "pids.max"})
	}
	for key := range dirs {
		ctrls := strings.Split(key, ",")
		if slices.Contains(ctrls, "memory") {
			out = append(out, limitFile{key, "memory.limit_in_bytes"})
		}
		if slices.Contains(ctrls, "cpu") {
			out = append(out, limitFile{key, "cpu.cfs_quota_us"}, limitFile{key, "cpu.cfs_period_us"})
		}
		if slices.Contains(ctrls, "pids") {
			out = append(out, limitFile{key, "pids.max"})
		}
	}
	slices.SortFunc(out, func(a, b limitFile) int { return strings.Compare(a.Hierarchy+"/"+a.Name, b.Hierarchy+"/"+b.Name) })
	return out
}

// v1Unlimited is the smallest v1 memory.limit_in_bytes that means no
// limit: PAGE_COUNTER_MAX pages, rounded down to a page.
const v1Unlimited = 1 << 62

// parseLimits fills the limits from the files' contents (path → text).
// "max", a v1 memory limit at v1Unlimited or above and a v1 quota of -1
// all mean no limit.
func parseLimits(files map[string]string) (CgroupLimits, error) {
	var l CgroupLimits
	num := func(p, s string) (uint64, error) {
		if s == "max" || s == "-1" {
			return 0, nil
		}
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse %s: %w", p, err)
		}
		return n, nil
	}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		s := strings.TrimSpace(files[p])
		var err error
		switch path.Base(p) {
		case "memory.max":
			l.MemoryMax, err = num(p, s)
		case "memory.limit_in_bytes":
			l.MemoryMax, err = num(p, s)
			if l.MemoryMax >= v1Unlimited {
				l.MemoryMax = 0
			}
		case "cpu.max":
			q, period, ok := strings.Cut(s, " ")
			if !ok {
				return l, fmt.Errorf("parse %s: %q, want QUOTA PERIOD", p, s)
			}
			if l.CPUQuota, err = num(p, q); err == nil {
				l.CPUPeriod, err = num(p, period)
			}
		case "cpu.cfs_quota_us":
			l.CPUQuota, err = num(p, s)
		case "cpu.cfs_period_us":
			l.CPUPeriod, err = num(p, s)
		case "pids.max":
			l.PidsMax, err = num(p, s)
		default:
			continue
		}
		if err != nil {
			return l, err
		}
		l.Files = append(l.Files, p)
	}
	return l, nil
}

// WriteTable writes the report for a person: the namespaces side by side
// with the host's, then a section for each of the rest.
func (r *NSReport) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	pr := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }
	pr("container %s (%s)\n", r.Name, r.ID[:min(12, len(r.ID))])
	pr("pid %d on the host", r.Pid)
	if len(r.NSpid) > 1 {
		pr(", %d inside its pid namespace (NSpid: %s)", r.NSpid[len(r.NSpid)-1], joinInts(r.NSpid))
	}
	pr("\n\n")

	// minirun's own namespaces get a column only when they are not the
	// host's (minirun itself run in a namespace of its own): what --network
	// host shares is then minirun's network, not pid 1's.
	selfDiffers := false
	for _, n := range r.Namespaces {
		selfDiffers = selfDiffers || n.Minirun != n.Host
	}
	if selfDiffers {
		pr("NAMESPACE\tCONTAINER\tHOST (PID 1)\tMINIRUN\tSHARED?\n")
	} else {
		pr("NAMESPACE\tCONTAINER\tHOST (PID 1)\tSHARED?\n")
	}
	for _, n := range r.Namespaces {
		shared := map[string]string{SharedNo: "no: its own", SharedHost: "yes: the host's", SharedMinirun: "yes: minirun's"}[n.Shared]
		host := n.Host
		if host == "" {
			host = "?"
		}
		if selfDiffers {
			pr("%s\t%s\t%s\t%s\t%s\n", n.Type, n.Container, host, n.Minirun, shared)
		} else {
			pr("%s\t%s\t%s\t%s\n", n.Type, n.Container, host, shared)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.HostError != "" {
		pr("(pid 1's namespaces are hidden from minirun here: %s)\n", r.HostError)
	}

	pr("\nID MAPS (inside -> outside, count)\n")
	for _, m := range [2]struct {
		name string
		maps []IDMap
	}{{"uid", r.UIDMap}, {"gid", r.GIDMap}} {
		for _, x := range m.maps {
			note := ""
			if x.Inside == 0 && x.Outside == 0 && x.Count == 4294967295 {
				note = "\tthe identity: root inside is root outside"
			}
			pr("  %s\t%d -> %d, %d%s\n", m.name, x.Inside, x.Outside, x.Count, note)
		}
	}

	pr("\nCGROUP (/proc/%d/cgroup)\n", r.Pid)
	for _, l := range r.Cgroup.Lines {
		pr("  %s\n", l)
	}
	lim := r.Cgroup.Limits
	if len(lim.Files) == 0 {
		pr("  limits:\tnone readable: those cgroups are not mounted in minirun's mount namespace\n")
	} else {
		pr("  limits:\tmemory %s\tcpu %s\tpids %s\n", bytesOrNone(lim.MemoryMax), cpuOrNone(lim.CPUQuota, lim.CPUPeriod), numOrNone(lim.PidsMax))
	}
	for _, f := range lim.Files {
		pr("  \tfrom %s\n", f)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	pr("\nCAPABILITIES (/proc/%d/status)\n", r.Pid)
	c := r.Capabilities
	for _, s := range []struct {
		name string
		set  CapSet
	}{{"effective", c.Effective}, {"permitted", c.Permitted}, {"inheritable", c.Inheritable}, {"bounding", c.Bounding}, {"ambient", c.Ambient}} {
		pr("  %s\t%s\t%s\n", s.name, s.set.Mask, capLine(s.set.Names))
	}

	s := r.Seccomp
	pr("\nSECCOMP\n  mode\t%d (%s)\n", s.Mode, s.ModeName)
	if s.Filters >= 0 {
		pr("  filters\t%d\n", s.Filters)
	}
	nnp := "0: execve may gain privileges (setuid, file capabilities)"
	if s.NoNewPrivs {
		nnp = "1: execve can never gain privileges"
	}
	pr("  no_new_privs\t%s\n", nnp)
	if err := tw.Flush(); err != nil {
		return err
	}

	pr("\nNETWORK (%s)", r.Network.Namespace)
	switch r.Network.Shared {
	case SharedHost:
		pr(": the host's own network namespace, its interfaces, no isolation")
	case SharedMinirun:
		pr(": minirun's own network namespace, no isolation from it")
	}
	pr("\nINTERFACE\tTYPE\tSTATE\tMAC\tMTU\tADDRESSES\n")
	for _, i := range r.Network.Interfaces {
		pr("%s\t%s\t%s\t%s\t%d\t%s\n", i.Name, i.Type, i.State, i.MAC, i.MTU, strings.Join(i.Addresses, " "))
	}
	return tw.Flush()
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, " ")
}

func bytesOrNone(n uint64) string {
	switch {
	case n == 0:
		return "none"
	case n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return strconv.FormatUint(n, 10) + " bytes"
}

func cpuOrNone(quota, period uint64) string {
	if quota == 0 || period == 0 {
		return "none"
	}
	return fmt.Sprintf("%d/%d us (%.2f CPUs)", quota, period, float64(quota)/float64(period))
}

func numOrNone(n uint64) string {
	if n == 0 {
		return "none"
	}
	return strconv.FormatUint(n, 10)
}

// capLine is a set's names without the CAP_ prefix, and how many.
func capLine(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	short := make([]string, len(names))
	for i, n := range names {
		short[i] = strings.TrimPrefix(n, "CAP_")
	}
	return fmt.Sprintf("%d: %s", len(names), strings.Join(short, " "))
}
