package spec

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ErrUnsupportedNetwork is wrapped by the error for an [ImageRun].Network
// minirun cannot give a container yet.
var ErrUnsupportedNetwork = errors.New("unsupported network: want bridge, none, host or container")

// Volume is a bind mount of a host directory or file into the container:
// -v/--volume once the caller has found the host directory behind it (see
// [VolumeSpec]).
type Volume struct {
	// Source is the absolute host path.
	Source string
	// Target is where the container sees it: absolute, clean, not "/".
	Target string
	// ReadOnly makes the mount read-only (-v SRC:DST:ro).
	ReadOnly bool
}

// Tmpfs is a tmpfs mount (--tmpfs TARGET[:OPTIONS]).
type Tmpfs struct {
	// Target is where it is mounted: absolute, clean, not "/".
	Target string
	// Options are the user's comma-separated mount options ("size=64m"),
	// laid over docker's noexec,nosuid,nodev (see [ParseTmpfs]).
	Options string
}

// InitTarget is where --init puts the init binary inside the container.
const InitTarget = "/sbin/minirun-init"

// minMemory is the smallest memory limit docker accepts (linuxMinMemory):
// below it a container cannot even start its runtime's init.
const minMemory = 6 << 20

// cpuPeriod is the CFS period --cpus uses, in microseconds: 100ms, as in
// docker.
const cpuPeriod = 100000

// etcFileTargets are the files of [ImageRun].EtcFiles: the ones docker
// writes for each container and bind-mounts over the image's.
var etcFileTargets = []string{"/etc/hostname", "/etc/hosts", "/etc/resolv.conf"}

// writableUnderReadOnly are the base mounts --read-only leaves writable, as
// docker does: the process needs them to work at all.
var writableUnderReadOnly = []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue"}

// runChanges is what the docker flags of an ImageRun do to the base config,
// computed without touching it so that a failed FromImage leaves it as it
// was. Fields holding base's values are shared with base, never changed.
type runChanges struct {
	terminal, readOnly, noNewPrivileges bool
	argsPrefix                          []string
	caps                                *specs.LinuxCapabilities // nil: base's
	rlimits                             []specs.POSIXRlimit
	mounts                              []specs.Mount
	linux                               *specs.Linux
	labels                              map[string]string
	stopSignal                          string
}

// planRun checks the docker flags of r and works out what they change in
// base. Errors name the flag at fault.
func planRun(base *specs.Spec, r ImageRun) (*runChanges, error) {
	c := &runChanges{
		terminal:        r.Terminal,
		readOnly:        r.ReadOnly,
		noNewPrivileges: r.NoNewPrivileges,
		linux:           base.Linux,
		stopSignal:      r.StopSignal,
	}
	// editLinux returns c.linux, first made a copy of base's, so that
	// fields can be replaced without changing base.
	editLinux := func() *specs.Linux {
		if c.linux == base.Linux {
			if base.Linux != nil {
				l := *base.Linux
				c.linux = &l
			} else {
				c.linux = &specs.Linux{}
			}
		}
		return c.linux
	}
	var proc specs.Process
	if base.Process != nil {
		proc = *base.Process
	}

	caps, err := runCapabilities(proc.Capabilities, r.CapAdd, r.CapDrop, r.Privileged, r.HostCapabilities)
	if err != nil {
		return nil, err
	}
	c.caps = caps

	if seccomp, changed, err := runSeccomp(base, proc.Capabilities, caps, r); err != nil {
		return nil, err
	} else if changed {
		editLinux().Seccomp = seccomp
	}

	c.rlimits, err = runRlimits(proc.Rlimits, r.Ulimits)
	if err != nil {
		return nil, err
	}

	namespaces, netChanged, err := runNamespaces(base, r.Network, r.NetNS)
	if err != nil {
		return nil, err
	}
	if netChanged {
		editLinux().Namespaces = namespaces
	}
	has := func(t specs.LinuxNamespaceType) bool {
		return slices.ContainsFunc(namespaces, func(ns specs.LinuxNamespace) bool { return ns.Type == t })
	}

	if len(r.Sysctls) > 0 || r.Network == "host" {
		sysctl, err := runSysctls(base.Linux, r.Sysctls, r.Network == "host", has)
		if err != nil {
			return nil, err
		}
		editLinux().Sysctl = sysctl
	}

	if r.Init {
		switch {
		case r.InitPath == "":
			return nil, errors.New("--init: no init binary given")
		case !path.IsAbs(r.InitPath):
			return nil, fmt.Errorf("--init: init binary %q is not an absolute path", r.InitPath)
		case !has(specs.PIDNamespace):
			// Docker quietly skips --init then; there would be an
			// init already, the host's or another container's.
			return nil, errors.New("--init: needs the container's own pid namespace")
		}
		c.argsPrefix = []string{InitTarget, "--"}
	}

	if c.mounts, err = runMounts(base.Mounts, r); err != nil {
		return nil, err
	}

	if res, changed, err := runResources(base.Linux, r); err != nil {
		return nil, err
	} else if changed {
		editLinux().Resources = res
	}

	if r.Privileged {
		l := editLinux()
		// Docker leaves nothing masked or read-only under /proc and /sys
		// for a privileged container, and no seccomp filter.
		l.MaskedPaths = nil
		l.ReadonlyPaths = nil
		l.Seccomp = nil
	}

	if value, ok := r.Labels[""]; ok {
		return nil, fmt.Errorf("--label =%s: empty name", value)
	}
	c.labels = r.Labels
	if r.StopSignal != "" {
		if err := checkSignal(r.StopSignal); err != nil {
			return nil, fmt.Errorf("--stop-signal %s: %w", r.StopSignal, err)
		}
	}
	return c, nil
}

// apply makes the changes in base. It cannot fail.
func (c *runChanges) apply(base *specs.Spec) {
	p := base.Process
	p.Terminal = p.Terminal || c.terminal
	p.NoNewPrivileges = p.NoNewPrivileges || c.noNewPrivileges
	if c.argsPrefix != nil {
		p.Args = slices.Concat(c.argsPrefix, p.Args)
	}
	if c.caps != nil {
		p.Capabilities = c.caps
	}
	p.Rlimits = c.rlimits
	if c.readOnly {
		if base.Root == nil {
			base.Root = &specs.Root{}
		}
		base.Root.Readonly = true
	}
	base.Mounts = c.mounts
	base.Linux = c.linux
}

// annotate lays the run's labels and stop signal over annotations, which
// may be nil, and returns it.
func (c *runChanges) annotate(annotations map[string]string) map[string]string {
	if len(c.labels) == 0 && c.stopSignal == "" {
		return annotations
	}
	if annotations == nil {
		annotations = make(map[string]string)
	}
	maps.Copy(annotations, c.labels)
	if c.stopSignal != "" {
		annotations[annotationStopSignal] = c.stopSignal
	}
	return annotations
}

// runRlimits lays --ulimit over base's rlimits by type, as docker lays a
// container's ulimits over the daemon's defaults. Of two --ulimit of one
// type the last wins.
func runRlimits(base, ulimits []specs.POSIXRlimit) ([]specs.POSIXRlimit, error) {
	if len(ulimits) == 0 {
		return base, nil
	}
	rlimits := slices.Clone(base)
	for _, rl := range ulimits {
		name := strings.ToLower(strings.TrimPrefix(rl.Type, "RLIMIT_"))
		if !slices.Contains(rlimitTypes, rl.Type) {
			return nil, fmt.Errorf("--ulimit %s: unknown resource limit %q", name, rl.Type)
		}
		if rl.Soft > rl.Hard {
			return nil, fmt.Errorf("--ulimit %s: soft limit %d is above hard limit %d", name, rl.Soft, rl.Hard)
		}
		i := slices.IndexFunc(rlimits, func(e specs.POSIXRlimit) bool { return e.Type == rl.Type })
		if i >= 0 {
			rlimits[i] = rl
		} else {
			rlimits = append(rlimits, rl)
		}
	}
	return rlimits, nil
}

// runNamespaces returns the namespaces after --network (and the namespace
// a "container" network joins), and whether they differ from base's.
func runNamespaces(base *specs.Spec, network, netns string) ([]specs.LinuxNamespace, bool, error) {
	var namespaces []specs.LinuxNamespace
	if base.Linux != nil {
		namespaces = base.Linux.Namespaces
	}
	isNet := func(ns specs.LinuxNamespace) bool { return ns.Type == specs.NetworkNamespace }
	own := func(ns specs.LinuxNamespace) ([]specs.LinuxNamespace, bool, error) {
		return slices.Concat(slices.DeleteFunc(slices.Clone(namespaces), isNet), []specs.LinuxNamespace{ns}), true, nil
	}
	switch network {
	case "":
		return namespaces, false, nil
	case "none", "bridge":
		// A namespace of its own, new: only a loopback interface, until
		// the front end wires a bridged one between create and start.
		return own(specs.LinuxNamespace{Type: specs.NetworkNamespace})
	case "host":
		return slices.DeleteFunc(slices.Clone(namespaces), isNet), true, nil
	case "container":
		if !filepath.IsAbs(netns) {
			return nil, false, fmt.Errorf("--network container: the namespace to join is %q, want an absolute path", netns)
		}
		return own(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: netns})
	}
	return nil, false, fmt.Errorf("--network %s: %w", network, ErrUnsupportedNetwork)
}

// runSysctls returns base's sysctls with --sysctl laid over them. With the
// host's network (hostNet), base's net.* ones are dropped, as docker sets
// its own only in a network namespace of the container's, and a --sysctl
// net.* is an error. has says which namespaces the container will have.
func runSysctls(base *specs.Linux, sysctls map[string]string, hostNet bool, has func(specs.LinuxNamespaceType) bool) (map[string]string, error) {
	var result map[string]string
	if base != nil {
		result = maps.Clone(base.Sysctl)
	}
	if hostNet {
		maps.DeleteFunc(result, func(key, _ string) bool { return strings.HasPrefix(key, "net.") })
	}
	for _, key := range slices.Sorted(maps.Keys(sysctls)) {
		if err := checkSysctl(key); err != nil {
			return nil, fmt.Errorf("--sysctl %s: %w", key, err)
		}
		ns, _ := sysctlNamespace(key)
		if ns == specs.NetworkNamespace && hostNet {
			return nil, fmt.Errorf("--sysctl %s: not allowed with --network host: it would change the host", key)
		}
		if !has(ns) {
			return nil, fmt.Errorf("--sysctl %s: needs the container's own %s namespace", key, ns)
		}
		if result == nil {
			result = make(map[string]string)
		}
		result[key] = sysctls[key]
	}
	if len(result) == 0 {
		return nil, nil
	}
	return result, nil
}

// runMounts returns the mounts of the container: base's, less those a
// mount of the run replaces or hides, and changed by --shm-size,
// --read-only and --privileged; then the run's own (volumes, tmpfs, /etc
// files, init), parents before children. This is docker's WithMounts.
func runMounts(base []specs.Mount, r ImageRun) ([]specs.Mount, error) {
	user, err := userMounts(r)
	if err != nil {
		return nil, err
	}
	if r.ShmSize < 0 {
		return nil, fmt.Errorf("--shm-size: %d is negative", r.ShmSize)
	}
	var mounts []specs.Mount
	for _, m := range base {
		dest := path.Clean(m.Destination)
		if slices.ContainsFunc(user, func(u specs.Mount) bool { return under(dest, u.Destination) }) {
			// Replaced, or hidden under a mount of the run: docker drops
			// the default mount at the same place, and everything under
			// a user's /dev.
			continue
		}
		if dest == "/dev/shm" && m.Type == "tmpfs" && r.ShmSize > 0 {
			m.Options = setOption(m.Options, "size=", formatSize(r.ShmSize))
		}
		if r.ReadOnly && !slices.Contains(writableUnderReadOnly, dest) && !slices.Contains(m.Options, "ro") {
			m.Options = append(slices.Clip(m.Options), "ro")
		}
		if r.Privileged && (dest == "/sys" || m.Type == "cgroup" || m.Type == "cgroup2") {
			m.Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == "ro" })
		}
		mounts = append(mounts, m)
	}
	return append(mounts, user...), nil
}

// userMounts returns the mounts the run adds, checked, sorted by depth so
// that a mount comes after the one it lies in (docker sorts them so too).
func userMounts(r ImageRun) ([]specs.Mount, error) {
	var mounts []specs.Mount
	taken := func(target string) bool {
		return slices.ContainsFunc(mounts, func(m specs.Mount) bool { return m.Destination == target })
	}
	for _, v := range r.Volumes {
		flag := "--volume " + v.Source + ":" + v.Target
		if !path.IsAbs(v.Source) {
			return nil, fmt.Errorf("%s: source %q is not an absolute path", flag, v.Source)
		}
		if err := checkTarget(v.Target); err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		if taken(v.Target) {
			return nil, fmt.Errorf("%s: %s is mounted twice", flag, v.Target)
		}
		mounts = append(mounts, bindMount(v.Source, v.Target, v.ReadOnly))
	}
	for _, t := range r.Tmpfs {
		flag := "--tmpfs " + t.Target
		if err := checkTarget(t.Target); err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		if taken(t.Target) {
			return nil, fmt.Errorf("%s: %s is mounted twice", flag, t.Target)
		}
		opts, err := tmpfsOptions(t.Options)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		mounts = append(mounts, specs.Mount{Destination: t.Target, Type: "tmpfs", Source: "tmpfs", Options: opts})
	}
	for _, target := range slices.Sorted(maps.Keys(r.EtcFiles)) {
		source := r.EtcFiles[target]
		if !slices.Contains(etcFileTargets, target) {
			return nil, fmt.Errorf("etc file %s: not one of %s", target, strings.Join(etcFileTargets, ", "))
		}
		if !path.IsAbs(source) {
			return nil, fmt.Errorf("etc file %s: source %q is not an absolute path", target, source)
		}
		if taken(target) {
			continue // a volume or tmpfs of the user's wins, as in docker
		}
		// Writable, so that the process may change its own hosts or
		// resolv.conf, unless the whole root is read-only: docker's rule.
		mounts = append(mounts, bindMount(source, target, r.ReadOnly))
	}
	if r.Init {
		if taken(InitTarget) {
			return nil, fmt.Errorf("--init: %s is mounted already", InitTarget)
		}
		mounts = append(mounts, specs.Mount{Destination: InitTarget, Type: "bind", Source: r.InitPath, Options: []string{"bind", "ro"}})
	}
	slices.SortStableFunc(mounts, func(a, b specs.Mount) int {
		return strings.Count(a.Destination, "/") - strings.Count(b.Destination, "/")
	})
	return mounts, nil
}

// bindMount is docker's bind mount of a volume or an /etc file: recursive,
// private, read-only if asked.
func bindMount(source, target string, readOnly bool) specs.Mount {
	opts := []string{"rbind"}
	if readOnly {
		opts = append(opts, "ro")
	}
	opts = append(opts, "rprivate")
	return specs.Mount{Destination: target, Type: "bind", Source: source, Options: opts}
}

// checkTarget checks the target of a Volume or Tmpfs: absolute, clean (as
// ParseVolume and ParseTmpfs leave it), and not the root.
func checkTarget(target string) error {
	switch {
	case !path.IsAbs(target):
		return fmt.Errorf("target %q is not absolute", target)
	case path.Clean(target) != target:
		return fmt.Errorf("target %q is not clean (%s)", target, path.Clean(target))
	case target == "/":
		return errors.New("target cannot be /")
	}
	return nil
}

// under reports whether dest is dir or lies under it; both are clean.
func under(dest, dir string) bool {
	return dest == dir || strings.HasPrefix(dest, dir+"/")
}

// setOption returns opts with the option starting with prefix ("size=")
// set to prefix+value: in place of the first such option, the others
// removed, or at the end. opts itself is not changed.
func setOption(opts []string, prefix, value string) []string {
	out := make([]string, 0, len(opts)+1)
	set := false
	for _, o := range opts {
		if !strings.HasPrefix(o, prefix) {
			out = append(out, o)
		} else if !set {
			out = append(out, prefix+value)
			set = true
		}
	}
	if !set {
		out = append(out, prefix+value)
	}
	return out
}

// formatSize writes a byte count for a tmpfs size= option in the largest
// unit that holds it exactly: 64m, 1g, 1536k, 1000.
func formatSize(n int64) string {
	for _, u := range []struct {
		size   int64
		suffix string
	}{{gib, "g"}, {mib, "m"}, {kib, "k"}} {
		if n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// runResources returns linux.resources after --memory, --memory-swap,
// --cpus, --cpu-shares, --pids-limit and --privileged, and whether it
// differs from base's.
func runResources(base *specs.Linux, r ImageRun) (*specs.LinuxResources, bool, error) {
	var res specs.LinuxResources
	if base != nil && base.Resources != nil {
		res = *base.Resources
	}
	changed := false

	switch {
	case r.Memory < 0:
		return nil, false, fmt.Errorf("--memory: %d is negative", r.Memory)
	case r.Memory > 0 && r.Memory < minMemory:
		return nil, false, fmt.Errorf("--memory: %d bytes is below the 6 MiB minimum", r.Memory)
	case r.MemorySwap < -1:
		return nil, false, fmt.Errorf("--memory-swap: %d is neither -1 (unlimited) nor a size", r.MemorySwap)
	case r.MemorySwap > 0 && r.Memory == 0:
		return nil, false, errors.New("--memory-swap: needs --memory, as it limits memory and swap together")
	case r.MemorySwap > 0 && r.MemorySwap < r.Memory:
		return nil, false, fmt.Errorf("--memory-swap: %d bytes is below --memory %d bytes; it limits memory and swap together", r.MemorySwap, r.Memory)
	}
	if r.Memory > 0 || r.MemorySwap != 0 {
		var mem specs.LinuxMemory
		if res.Memory != nil {
			mem = *res.Memory
		}
		if r.Memory > 0 {
			limit := r.Memory
			mem.Limit = &limit
		}
		// runtime-spec's swap is memory plus swap, as --memory-swap is:
		// no conversion. Without --memory-swap, docker allows as much swap
		// as memory.
		swap := r.MemorySwap
		if swap == 0 {
			swap = -1
			if r.Memory <= math.MaxInt64/2 {
				swap = 2 * r.Memory
			}
		}
		mem.Swap = &swap
		res.Memory = &mem
		changed = true
	}

	if math.IsNaN(r.CPUs) || r.CPUs < 0 || r.CPUs > math.MaxInt64/1e9 {
		return nil, false, fmt.Errorf("--cpus: %v is not a number of CPUs", r.CPUs)
	}
	if r.CPUs > 0 || r.CPUShares > 0 {
		var cpu specs.LinuxCPU
		if res.CPU != nil {
			cpu = *res.CPU
		}
		if r.CPUs > 0 {
			quota := int64(math.Round(r.CPUs * cpuPeriod))
			if quota < 1000 {
				// The kernel's least cpu.max quota, 1ms in 100ms.
				return nil, false, fmt.Errorf("--cpus: %v is below the minimum of 0.01", r.CPUs)
			}
			period := uint64(cpuPeriod)
			cpu.Quota, cpu.Period = &quota, &period
		}
		if r.CPUShares > 0 {
			shares := r.CPUShares
			cpu.Shares = &shares
		}
		res.CPU = &cpu
		changed = true
	}

	if r.PidsLimit != 0 {
		// Docker takes any negative limit, and zero through its API, for
		// "unlimited", which the spec writes -1.
		limit := max(r.PidsLimit, -1)
		res.Pids = &specs.LinuxPids{Limit: &limit}
		changed = true
	}

	if r.Privileged {
		// Every device allowed; the caller adds the host's device nodes
		// to linux.devices if it wants them.
		res.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		changed = true
	}
	if !changed {
		return nil, false, nil
	}
	return &res, true, nil
}

// signalNames are the names --stop-signal takes, without SIG, as docker
// (moby/sys/signal) knows them on Linux; also RTMIN+n and RTMAX-n.
var signalNames = []string{
	"ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT",
	"IO", "IOT", "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV",
	"STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU", "URG",
	"USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX",
}

// checkSignal checks a signal as docker's ParseSignal reads it: a number
// from 1 to 64, or a name with or without SIG, in any case.
func checkSignal(s string) error {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 64 {
			return fmt.Errorf("signal number %d is outside 1..64", n)
		}
		return nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if slices.Contains(signalNames, name) {
		return nil
	}
	// Linux has 33 real-time signals for programs (SIGRTMIN is 34 under
	// glibc); docker names RTMIN+1..RTMIN+15 and RTMAX-14..RTMAX-1.
	for _, rt := range []struct {
		prefix string
		max    int
	}{{"RTMIN+", 15}, {"RTMAX-", 14}} {
		if rest, ok := strings.CutPrefix(name, rt.prefix); ok {
			if n, err := strconv.Atoi(rest); err == nil && n >= 1 && n <= rt.max && rest == strconv.Itoa(n) {
				return nil
			}
		}
	}
	return errors.New("not a signal")
}
