package doctor

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/minirun/minirun/cgroups"
)

// CgroupInput is what the cgroups check judges.
type CgroupInput struct {
	// Root is where the cgroup filesystems are mounted (/sys/fs/cgroup).
	Root string
	// Mode is what cgroups.Detect said; 0 when it failed, with Err saying
	// why.
	Mode cgroups.Mode
	// Err is why the mode could not be told, or why cgroups.New could not
	// place a container's cgroup.
	Err error
	// Dirs is where minirun would make a container's cgroup, as
	// cgroups.New resolves it: controller → directory; one key, "", on
	// v2.
	Dirs map[string]string
	// Parent (v2) is the cgroup minirun enables controllers in for its
	// containers: the deepest existing ancestor of Dirs[""].
	Parent string
	// ParentIsRoot (v2): Parent is the root of the whole hierarchy (it has
	// no cgroup.type file), the one cgroup exempt from "no internal
	// processes".
	ParentIsRoot bool
	// Controllers and Procs (v2) are Parent's cgroup.controllers and
	// cgroup.procs.
	Controllers, Procs File
	// Unified (hybrid) is cgroup.controllers of the cgroup2 at
	// Root/unified: controllers bound there are out of v1's reach.
	Unified File
}

// v2Limits are the v2 controllers linux.resources writes to; a container
// without limits runs without them.
var v2Limits = []string{"cpu", "cpuset", "io", "memory", "pids"}

// v1Used are the v1 hierarchies minirun's fallback uses (cgroups'
// v1Controllers), and what fails without each.
var v1Used = []struct{ name, without string }{
	{"devices", "every container fails (its device rules are written there)"},
	{"memory", "memory limits (-m) fail"},
	{"cpu", "cpu limits (--cpus, --cpu-shares) fail"},
	{"cpuset", "--cpuset-cpus fails"},
	{"pids", "--pids-limit fails"},
	{"freezer", "pause fails"},
	{"cpuacct", "cpu statistics are missing"},
}

// bootV2 is the fix for hybrid and v1 hosts.
const bootV2 = "boot with cgroup v2 alone: add systemd.unified_cgroup_hierarchy=1 to GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub && reboot"

func checkCgroups(in CgroupInput) Finding {
	f := Finding{Check: "cgroups"}
	root := in.Root
	if root == "" {
		root = cgroups.DefaultRoot
	}
	if in.Mode == 0 {
		f.Status = Fail
		f.Message = fmt.Sprintf("no cgroup hierarchy minirun can use (%v): every container fails", in.Err)
		f.Fix = "mount -t cgroup2 cgroup2 " + root
		return f
	}
	if in.Err != nil {
		f.Status = Fail
		f.Message = fmt.Sprintf("%s: minirun cannot place a container's cgroup: %v", in.Mode, in.Err)
		if in.Mode != cgroups.Unified {
			f.Fix = fmt.Sprintf("mkdir -p %[1]s/devices && mount -t cgroup -o devices cgroup %[1]s/devices (and likewise memory, cpu,cpuacct, pids, freezer)", root)
		}
		return f
	}
	if in.Mode == cgroups.Unified {
		return checkCgroupV2(f, root, in)
	}
	return checkCgroupV1(f, root, in)
}

func checkCgroupV2(f Finding, root string, in CgroupInput) Finding {
	where := filepath.Dir(in.Dirs[""])
	if in.Controllers.Err != nil {
		f.Status = Warn
		f.Message = fmt.Sprintf("v2: cannot read the controllers %s offers to minirun's containers: %v", in.Parent, in.Controllers.Err)
		return f
	}
	offered := strings.Fields(in.Controllers.Data)
	var problems, fixes []string
	if !in.ParentIsRoot && len(strings.Fields(in.Procs.Data)) > 0 {
		problems = append(problems, fmt.Sprintf("%s has processes of its own, and cgroup v2 lets such a cgroup pass no controllers to its children (\"no internal processes\"): "+
			"containers with limits fail to start, the others get no statistics", in.Parent))
		if in.Parent == root {
			// The mount's root is not the hierarchy's (a cgroup
			// namespace, a container): its processes must move to a
			// leaf of their own.
			fixes = append(fixes, fmt.Sprintf("mkdir %[1]s/init && for p in $(cat %[1]s/cgroup.procs); do echo $p > %[1]s/init/cgroup.procs; done", root))
		} else {
			fixes = append(fixes, fmt.Sprintf("for p in $(cat %s/cgroup.procs); do echo $p > %s/cgroup.procs; done", in.Parent, filepath.Dir(in.Parent)))
		}
	}
	var missing []string
	for _, c := range v2Limits {
		if !slices.Contains(offered, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("%s offers no %s controller: limits on them fail", in.Parent, strings.Join(missing, ", ")))
		switch {
		case in.Parent != root:
			// A cgroup has the controllers its parent enables for
			// its children.
			fixes = append(fixes, fmt.Sprintf(`echo "+%s" > %s/cgroup.subtree_control`, strings.Join(missing, " +"), filepath.Dir(in.Parent)))
		case in.ParentIsRoot:
			fixes = append(fixes, "find out what holds them: a cgroup v1 hierarchy (grep -w cgroup /proc/self/mountinfo: umount it) or cgroup_disable= on the kernel command line (remove it, reboot)")
		default:
			fixes = append(fixes, "have the cgroup above delegate them (systemd: Delegate=yes on the unit; docker or podman: --cgroupns=private on a cgroup v2 host)")
		}
	}
	if len(problems) > 0 {
		f.Status = Warn
		f.Message = "v2: " + strings.Join(problems, "; ")
		f.Fix = strings.Join(fixes, "; ")
		return f
	}
	f.Status = OK
	f.Message = fmt.Sprintf("v2: containers' cgroups go under %s; %s offers %s", where, in.Parent, strings.Join(offered, " "))
	return f
}

func checkCgroupV1(f Finding, root string, in CgroupInput) Finding {
	f.Status = Warn
	var b strings.Builder
	if in.Mode == cgroups.Hybrid {
		fmt.Fprintf(&b, "hybrid: cgroup v1 hierarchies under %s and a cgroup2 at %s/unified", root, root)
		if u := strings.Fields(in.Unified.Data); len(u) > 0 {
			fmt.Fprintf(&b, " (holding %s, which v1 then lacks)", strings.Join(u, " "))
		}
	} else {
		fmt.Fprintf(&b, "v1: cgroup v1 hierarchies only, under %s", root)
	}
	mounted := slices.Sorted(maps.Keys(in.Dirs))
	fmt.Fprintf(&b, "; minirun falls back to v1 (%s)", strings.Join(mounted, " "))
	example := "memory"
	if _, ok := in.Dirs[example]; !ok && len(mounted) > 0 {
		example = mounted[0]
	}
	if dir, ok := in.Dirs[example]; ok {
		fmt.Fprintf(&b, ", containers under %s", filepath.Dir(dir))
	}
	b.WriteString(`: io, hugetlb, rdma and unified limits fail ("needs cgroup v2")`)
	f.Fix = bootV2
	for _, u := range v1Used {
		if _, ok := in.Dirs[u.name]; ok {
			continue
		}
		fmt.Fprintf(&b, "; no %s hierarchy: %s", u.name, u.without)
		if u.name == "devices" {
			f.Status = Fail
			f.Fix = fmt.Sprintf("mkdir -p %[1]s/devices && mount -t cgroup -o devices cgroup %[1]s/devices; or %s", root, bootV2)
		}
	}
	f.Message = b.String()
	return f
}
