package spec

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// namespaceTypes are the namespace types the runtime-spec defines
// (config-linux.md, "Namespaces"). A config may name any of them; whether
// minirun can create one is the runtime's business (see [Features]).
var namespaceTypes = []specs.LinuxNamespaceType{
	specs.PIDNamespace,
	specs.NetworkNamespace,
	specs.MountNamespace,
	specs.IPCNamespace,
	specs.UTSNamespace,
	specs.UserNamespace,
	specs.CgroupNamespace,
	specs.TimeNamespace,
}

// rlimitTypes are the resource limits of getrlimit(2). Their numbers differ
// between architectures, so the runtime maps names with golang.org/x/sys/unix.
var rlimitTypes = []string{
	"RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA",
	"RLIMIT_FSIZE", "RLIMIT_LOCKS", "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE",
	"RLIMIT_NICE", "RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_RSS",
	"RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK",
}

// deviceTypes are the kinds of node linux.devices may create: character,
// block, unbuffered character (same as c to mknod(2)) and FIFO.
var deviceTypes = []string{"c", "b", "u", "p"}

// capabilityName is the shape of a capability name. A well-shaped name must
// also be one of CapabilityNames: config.md asks the runtime to fail on a
// value it cannot map to the kernel. (One the table knows but the running
// kernel does not, a newer one on an older kernel, is the runtime's to
// skip.)
var capabilityName = regexp.MustCompile(`^CAP_[A-Z_]+$`)

// invalidf returns the error for one problem in a config: the JSON path of the
// field at fault, what is wrong with it, and ErrInvalid.
func invalidf(field, format string, args ...any) error {
	return fmt.Errorf("%s %s: %w", field, fmt.Sprintf(format, args...), ErrInvalid)
}

// Validate checks that s is a well-formed config for the bundle at bundle:
// ociVersion is 1.x; root.path names a directory (a relative one is looked
// up inside the bundle, the only file system access Validate makes); the
// process passes [ValidateProcess]; mount destinations, hook paths, namespace
// paths and device paths are absolute; hook timeouts are positive; namespace,
// device and rlimit types are ones the spec defines, each namespace and
// rlimit type appears once; sysctl keys are dotted names; and ID mappings
// come with a user namespace.
//
// It returns the first problem found, as one line naming the field, wrapping
// [ErrInvalid]. Mount destinations must be absolute here; [Load] makes
// relative ones absolute before calling Validate.
func Validate(s *specs.Spec, bundle string) error {
	if s == nil {
		return invalidf("config", "is missing")
	}
	if !isVersion1(s.Version) {
		return invalidf("ociVersion", "%q is not 1.x", s.Version)
	}
	if err := validateRoot(s, bundle); err != nil {
		return err
	}
	// The spec makes process optional in general but required for create,
	// the only thing a config is loaded for.
	if s.Process == nil {
		return invalidf("process.args", "must not be empty (there is no process)")
	}
	if err := validateProcess(s.Process, "process."); err != nil {
		return err
	}
	for i, m := range s.Mounts {
		field := fmt.Sprintf("mounts[%d].destination", i)
		if m.Destination == "" {
			return invalidf(field, "is empty")
		}
		if !filepath.IsAbs(m.Destination) {
			return invalidf(field, "%q is not absolute", m.Destination)
		}
	}
	if err := validateHooks(s.Hooks); err != nil {
		return err
	}
	if err := validateLinux(s.Linux); err != nil {
		return err
	}
	return validateIsolation(s)
}

// validateIsolation refuses settings that, without the namespace they
// belong to, would change the host instead of the container: the hostname
// of a shared UTS namespace, or a sysctl of a shared network or IPC
// namespace. runc refuses the same.
func validateIsolation(s *specs.Spec) error {
	has := map[specs.LinuxNamespaceType]bool{}
	var sysctl map[string]string
	if s.Linux != nil {
		for _, ns := range s.Linux.Namespaces {
			has[ns.Type] = true
		}
		sysctl = s.Linux.Sysctl
	}
	if l := s.Linux; l != nil && !has[specs.MountNamespace] {
		// Masking /proc or /sys paths for the container alone needs a
		// mount table of its own; in the host's it would mask them for
		// everyone.
		if len(l.MaskedPaths) > 0 {
			return invalidf("linux.maskedPaths", "need their own mount namespace in linux.namespaces")
		}
		if len(l.ReadonlyPaths) > 0 {
			return invalidf("linux.readonlyPaths", "need their own mount namespace in linux.namespaces")
		}
	}
	if s.Hostname != "" && !has[specs.UTSNamespace] {
		return invalidf("hostname", "%q needs its own uts namespace in linux.namespaces", s.Hostname)
	}
	if s.Domainname != "" && !has[specs.UTSNamespace] {
		return invalidf("domainname", "%q needs its own uts namespace in linux.namespaces", s.Domainname)
	}
	for _, key := range slices.Sorted(maps.Keys(sysctl)) {
		ns, ok := sysctlNamespace(key)
		if !ok {
			return invalidf("linux.sysctl", "%q is not namespaced: it would change the host", key)
		}
		if !has[ns] {
			return invalidf("linux.sysctl", "%q needs its own %s namespace in linux.namespaces", key, ns)
		}
	}
	return nil
}

// sysctlNamespace says which namespace a sysctl belongs to; the kernel
// keeps a copy per namespace only for these (see namespaces(7)).
func sysctlNamespace(key string) (specs.LinuxNamespaceType, bool) {
	switch key {
	case "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
		"kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced":
		return specs.IPCNamespace, true
	case "kernel.hostname", "kernel.domainname":
		return specs.UTSNamespace, true
	}
	switch {
	case strings.HasPrefix(key, "fs.mqueue."):
		return specs.IPCNamespace, true
	case strings.HasPrefix(key, "net."):
		return specs.NetworkNamespace, true
	}
	return "", false
}

// isVersion1 reports whether v is a 1.x version, such as "1.0.2-dev" or
// "1.3.0". The spec keeps compatibility within a major version, so minirun
// reads any of them.
func isVersion1(v string) bool {
	// Drop SemVer's build metadata ("+...") and pre-release ("-...").
	v, _, _ = strings.Cut(v, "+")
	v, _, _ = strings.Cut(v, "-")
	parts := strings.Split(v, ".")
	if len(parts) < 2 || len(parts) > 3 || parts[0] != "1" {
		return false
	}
	for _, p := range parts[1:] {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

func validateRoot(s *specs.Spec, bundle string) error {
	if s.Root == nil {
		return invalidf("root", "is missing")
	}
	if s.Root.Path == "" {
		return invalidf("root.path", "is empty")
	}
	path := RootfsPath(s, bundle)
	fi, err := os.Stat(path)
	if err != nil {
		// %v, not %w: a missing rootfs is a mistake in the bundle, and must
		// not look like a missing config.json to errors.Is(err, fs.ErrNotExist).
		return invalidf("root.path", "%q: %v", s.Root.Path, err)
	}
	if !fi.IsDir() {
		return invalidf("root.path", "%q: %s is not a directory", s.Root.Path, path)
	}
	return nil
}

// ValidateProcess checks that p is a process the runtime can start: args is
// not empty, cwd is absolute, env entries are KEY=value, rlimits are known
// types with soft <= hard and appear once each, capability names are
// well-formed and oomScoreAdj is in range. Fields are named relative to the
// process object ("cwd"). Errors wrap [ErrInvalid].
func ValidateProcess(p *specs.Process) error {
	if p == nil {
		return invalidf("process", "is missing")
	}
	return validateProcess(p, "")
}

// validateProcess is ValidateProcess with prefix put before each field name,
// so that errors name fields as they appear in the file being checked.
func validateProcess(p *specs.Process, prefix string) error {
	if len(p.Args) == 0 {
		return invalidf(prefix+"args", "must not be empty")
	}
	if !filepath.IsAbs(p.Cwd) {
		return invalidf(prefix+"cwd", "%q is not absolute", p.Cwd)
	}
	for i, kv := range p.Env {
		// execve(2) would pass anything, but a name without a value cannot
		// be looked up with getenv(3), and runc refuses it too.
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return invalidf(fmt.Sprintf("%senv[%d]", prefix, i), "%q is not KEY=value", kv)
		}
	}
	seen := make(map[string]bool)
	for i, rl := range p.Rlimits {
		field := fmt.Sprintf("%srlimits[%d]", prefix, i)
		if !slices.Contains(rlimitTypes, rl.Type) {
			return invalidf(field+".type", "%q is unknown", rl.Type)
		}
		if seen[rl.Type] {
			return invalidf(field+".type", "%q appears more than once", rl.Type)
		}
		seen[rl.Type] = true
		if rl.Soft > rl.Hard {
			return invalidf(field+".soft", "%d is above hard limit %d", rl.Soft, rl.Hard)
		}
	}
	if c := p.Capabilities; c != nil {
		sets := []struct {
			name  string
			names []string
		}{
			{"bounding", c.Bounding},
			{"effective", c.Effective},
			{"inheritable", c.Inheritable},
			{"permitted", c.Permitted},
			{"ambient", c.Ambient},
		}
		for _, set := range sets {
			for i, name := range set.names {
				if !capabilityName.MatchString(name) {
					return invalidf(fmt.Sprintf("%scapabilities.%s[%d]", prefix, set.name, i),
						"%q is not a capability name like CAP_KILL", name)
				}
				if !slices.Contains(CapabilityNames, name) {
					return invalidf(fmt.Sprintf("%scapabilities.%s[%d]", prefix, set.name, i),
						"%q is not a Linux capability", name)
				}
			}
		}
	}
	// proc(5): /proc/PID/oom_score_adj takes -1000 (never kill) to 1000.
	if adj := p.OOMScoreAdj; adj != nil && (*adj < -1000 || *adj > 1000) {
		return invalidf(prefix+"oomScoreAdj", "%d is outside -1000..1000", *adj)
	}
	return nil
}

func validateHooks(h *specs.Hooks) error {
	if h == nil {
		return nil
	}
	// Prestart is deprecated but still written by older tools; check it too.
	lists := []struct {
		name  string
		hooks []specs.Hook
	}{
		{"prestart", h.Prestart},
		{"createRuntime", h.CreateRuntime},
		{"createContainer", h.CreateContainer},
		{"startContainer", h.StartContainer},
		{"poststart", h.Poststart},
		{"poststop", h.Poststop},
	}
	for _, l := range lists {
		for i, hook := range l.hooks {
			field := fmt.Sprintf("hooks.%s[%d]", l.name, i)
			if !filepath.IsAbs(hook.Path) {
				return invalidf(field+".path", "%q is not absolute", hook.Path)
			}
			if hook.Timeout != nil && *hook.Timeout <= 0 {
				return invalidf(field+".timeout", "%d is not greater than zero", *hook.Timeout)
			}
		}
	}
	return nil
}

func validateLinux(l *specs.Linux) error {
	if l == nil {
		return nil
	}
	hasUserNS := false
	seen := make(map[specs.LinuxNamespaceType]bool)
	for i, ns := range l.Namespaces {
		field := fmt.Sprintf("linux.namespaces[%d]", i)
		if !slices.Contains(namespaceTypes, ns.Type) {
			return invalidf(field+".type", "%q is unknown", ns.Type)
		}
		if seen[ns.Type] {
			return invalidf(field+".type", "%q appears more than once", ns.Type)
		}
		seen[ns.Type] = true
		if ns.Path != "" && !filepath.IsAbs(ns.Path) {
			return invalidf(field+".path", "%q is not absolute", ns.Path)
		}
		hasUserNS = hasUserNS || ns.Type == specs.UserNamespace
	}
	// ID mappings are written to /proc/PID/uid_map of a new user namespace;
	// without one there is nothing to write them to.
	if !hasUserNS {
		if len(l.UIDMappings) > 0 {
			return invalidf("linux.uidMappings", "are set but linux.namespaces has no user namespace")
		}
		if len(l.GIDMappings) > 0 {
			return invalidf("linux.gidMappings", "are set but linux.namespaces has no user namespace")
		}
	}
	// Sorted, so that a config with two bad keys always reports the same one.
	for _, key := range slices.Sorted(maps.Keys(l.Sysctl)) {
		// A key becomes a path under /proc/sys ("net.ipv4.ip_forward" is
		// /proc/sys/net/ipv4/ip_forward); "/" or ".." could reach elsewhere.
		if key == "" || strings.Contains(key, "/") || strings.Contains(key, "..") {
			return invalidf("linux.sysctl", "key %q is not a dotted sysctl name", key)
		}
	}
	for i, d := range l.Devices {
		field := fmt.Sprintf("linux.devices[%d]", i)
		if !slices.Contains(deviceTypes, d.Type) {
			return invalidf(field+".type", "%q is not one of c, b, u, p", d.Type)
		}
		if !filepath.IsAbs(d.Path) {
			return invalidf(field+".path", "%q is not absolute", d.Path)
		}
	}
	return nil
}
