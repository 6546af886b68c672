package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// SeccompProfile is a seccomp profile file, as `--security-opt
// seccomp=FILE` names one, read by [ParseSeccompProfile]. Two shapes are
// read, as docker reads them:
//
//   - the "linux.seccomp" object of config.json (runtime-spec's
//     LinuxSeccomp): defaultAction, defaultErrnoRet, architectures, flags,
//     listenerPath, syscalls with names, action, errnoRet and args;
//   - docker's and podman's profile format (moby's profiles/seccomp, the
//     /usr/share/containers/seccomp.json of containers-common), which adds
//     archMap (an architecture and the sub-architectures that run beside
//     it), the older "name" for a single system call, and per-rule
//     includes and excludes: capabilities (caps), Go architectures
//     (arches) and a minimum kernel version (minKernel).
//
// [SeccompProfile.Spec] resolves it for one container, as docker's daemon
// does: a rule is kept when the container's bounding set holds all of its
// included capabilities and none of its excluded ones, and the build's
// architecture matches. minirun assumes the kernel is new enough for every
// minKernel: it has no kernel to ask while it builds the config, and every
// minKernel of docker's and podman's profiles (4.8 at most) is older than
// the oldest kernel minirun supports.
type SeccompProfile struct {
	f seccompFile
}

// seccompFile is both shapes of a profile file in one: the docker fields
// are empty in an OCI one.
type seccompFile struct {
	DefaultAction    specs.LinuxSeccompAction `json:"defaultAction"`
	DefaultErrnoRet  *uint                    `json:"defaultErrnoRet"`
	Architectures    []specs.Arch             `json:"architectures"`
	ArchMap          []seccompArchMap         `json:"archMap"`
	Flags            []specs.LinuxSeccompFlag `json:"flags"`
	ListenerPath     string                   `json:"listenerPath"`
	ListenerMetadata string                   `json:"listenerMetadata"`
	Syscalls         []seccompRule            `json:"syscalls"`
}

type seccompArchMap struct {
	Arch      specs.Arch   `json:"architecture"`
	SubArches []specs.Arch `json:"subArchitectures"`
}

type seccompRule struct {
	Name     string                   `json:"name"`
	Names    []string                 `json:"names"`
	Action   specs.LinuxSeccompAction `json:"action"`
	ErrnoRet *uint                    `json:"errnoRet"`
	Args     []specs.LinuxSeccompArg  `json:"args"`
	Includes *seccompFilter           `json:"includes"`
	Excludes *seccompFilter           `json:"excludes"`
}

// seccompFilter is docker's condition on a rule.
type seccompFilter struct {
	Caps      []string `json:"caps"`
	Arches    []string `json:"arches"`
	MinKernel string   `json:"minKernel"`
}

// seccompActions, seccompOperators, seccompArchNames and seccompFlags are
// the values runtime-spec v1.3.0 defines (config-linux.md, "Seccomp").
var (
	seccompActions = []specs.LinuxSeccompAction{
		specs.ActKill, specs.ActKillProcess, specs.ActKillThread, specs.ActTrap,
		specs.ActErrno, specs.ActTrace, specs.ActAllow, specs.ActLog, specs.ActNotify,
	}
	seccompOperators = []specs.LinuxSeccompOperator{
		specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
		specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual,
	}
	seccompArchNames = []specs.Arch{
		specs.ArchX86, specs.ArchX86_64, specs.ArchX32, specs.ArchARM, specs.ArchAARCH64,
		specs.ArchMIPS, specs.ArchMIPS64, specs.ArchMIPS64N32, specs.ArchMIPSEL,
		specs.ArchMIPSEL64, specs.ArchMIPSEL64N32, specs.ArchPPC, specs.ArchPPC64,
		specs.ArchPPC64LE, specs.ArchS390, specs.ArchS390X, specs.ArchPARISC,
		specs.ArchPARISC64, specs.ArchRISCV64, specs.ArchLOONGARCH64, specs.ArchM68K,
		specs.ArchSH, specs.ArchSHEB,
	}
	seccompFlags = []specs.LinuxSeccompFlag{
		"SECCOMP_FILTER_FLAG_TSYNC", specs.LinuxSeccompFlagLog,
		specs.LinuxSeccompFlagSpecAllow, specs.LinuxSeccompFlagWaitKillableRecv,
	}
)

// seccompMaxArgs is how many arguments a system call has at most: a
// seccomp filter sees six (seccomp_data.args).
const seccompMaxArgs = 6

// ParseSeccompProfile reads a seccomp profile file in either shape (see
// [SeccompProfile]) and checks it: JSON, with a known defaultAction; known
// architectures, flags, actions and comparison operators; every rule with
// at least one system call name, "name" or "names" but not both, at most
// six arguments, errnoRet only with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, and
// capability names minirun knows. The first problem found is the error,
// naming the field ("syscalls[3].action: unknown action ...").
func ParseSeccompProfile(data []byte) (*SeccompProfile, error) {
	var f seccompFile
	if err := json.Unmarshal(data, &f); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line := 1 + bytes.Count(data[:min(se.Offset, int64(len(data)))], []byte("\n"))
			return nil, fmt.Errorf("not JSON: line %d: %w", line, err)
		}
		return nil, fmt.Errorf("not a seccomp profile: %w", err)
	}
	if f.DefaultAction == "" {
		return nil, errors.New("defaultAction: missing")
	}
	if err := checkSeccompAction("defaultAction", f.DefaultAction, f.DefaultErrnoRet != nil); err != nil {
		return nil, err
	}
	for i, a := range f.Architectures {
		if !slices.Contains(seccompArchNames, a) {
			return nil, fmt.Errorf("architectures[%d]: unknown architecture %q", i, a)
		}
	}
	for i, m := range f.ArchMap {
		for _, a := range append([]specs.Arch{m.Arch}, m.SubArches...) {
			if !slices.Contains(seccompArchNames, a) {
				return nil, fmt.Errorf("archMap[%d]: unknown architecture %q", i, a)
			}
		}
	}
	for i, fl := range f.Flags {
		if !slices.Contains(seccompFlags, fl) {
			return nil, fmt.Errorf("flags[%d]: unknown flag %q", i, fl)
		}
	}
	for i := range f.Syscalls {
		if err := checkSeccompRule(&f.Syscalls[i]); err != nil {
			return nil, fmt.Errorf("syscalls[%d]: %w", i, err)
		}
	}
	return &SeccompProfile{f: f}, nil
}

// checkSeccompRule checks one rule and moves its "name" into Names.
func checkSeccompRule(r *seccompRule) error {
	if r.Name != "" {
		if len(r.Names) > 0 {
			return errors.New(`both "name" and "names"`)
		}
		r.Names, r.Name = []string{r.Name}, ""
	}
	if len(r.Names) == 0 {
		return errors.New("names: no system call named")
	}
	for j, n := range r.Names {
		if n == "" || strings.ContainsAny(n, " \t\n") {
			return fmt.Errorf("names[%d]: %q is not a system call name", j, n)
		}
	}
	if err := checkSeccompAction("action", r.Action, r.ErrnoRet != nil); err != nil {
		return err
	}
	if len(r.Args) > seccompMaxArgs {
		return fmt.Errorf("args: %d conditions, but a system call has %d arguments at most", len(r.Args), seccompMaxArgs)
	}
	for j, a := range r.Args {
		if a.Index >= seccompMaxArgs {
			return fmt.Errorf("args[%d].index: %d is not below %d", j, a.Index, seccompMaxArgs)
		}
		if !slices.Contains(seccompOperators, a.Op) {
			return fmt.Errorf("args[%d].op: unknown operator %q", j, a.Op)
		}
	}
	for what, fl := range map[string]*seccompFilter{"includes": r.Includes, "excludes": r.Excludes} {
		if fl == nil {
			continue
		}
		for _, c := range fl.Caps {
			if !slices.Contains(CapabilityNames, c) {
				return fmt.Errorf("%s.caps: unknown capability %q", what, c)
			}
		}
		if fl.MinKernel != "" && !kernelVersion(fl.MinKernel) {
			return fmt.Errorf("%s.minKernel: %q is not a kernel version (like 4.8)", what, fl.MinKernel)
		}
	}
	return nil
}

// checkSeccompAction checks an action, and that an errno goes only with
// the actions that take one.
func checkSeccompAction(field string, a specs.LinuxSeccompAction, hasErrno bool) error {
	if a == "" {
		return fmt.Errorf("%s: missing", field)
	}
	if !slices.Contains(seccompActions, a) {
		return fmt.Errorf("%s: unknown action %q", field, a)
	}
	if hasErrno && a != specs.ActErrno && a != specs.ActTrace {
		return fmt.Errorf("%s: %s takes no errnoRet", field, a)
	}
	return nil
}

// kernelVersion reports whether s looks like MAJOR.MINOR[.PATCH].
func kernelVersion(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return false
	}
	for _, p := range parts {
		if _, err := strconv.ParseUint(p, 10, 32); err != nil {
			return false
		}
	}
	return true
}

// Spec returns the profile as linux.seccomp for a container whose bounding
// set is caps, on this build's architecture (see [SeccompProfile]). Each
// call returns a new value.
func (p *SeccompProfile) Spec(caps []string) *specs.LinuxSeccomp {
	return p.spec(goruntime.GOARCH, caps)
}

func (p *SeccompProfile) spec(goarch string, caps []string) *specs.LinuxSeccomp {
	f := &p.f
	s := &specs.LinuxSeccomp{
		DefaultAction:    f.DefaultAction,
		DefaultErrnoRet:  clonePtr(f.DefaultErrnoRet),
		Architectures:    slices.Clone(f.Architectures),
		Flags:            slices.Clone(f.Flags),
		ListenerPath:     f.ListenerPath,
		ListenerMetadata: f.ListenerMetadata,
	}
	// Docker takes the archMap entry of the native architecture only.
	if native := seccompArchitectures[goarch]; len(native) > 0 {
		for _, m := range f.ArchMap {
			if m.Arch == native[0] {
				s.Architectures = append(s.Architectures, m.Arch)
				s.Architectures = append(s.Architectures, m.SubArches...)
			}
		}
	}
	for _, r := range f.Syscalls {
		if !r.applies(goarch, caps) {
			continue
		}
		s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{
			Names:    slices.Clone(r.Names),
			Action:   r.Action,
			ErrnoRet: clonePtr(r.ErrnoRet),
			Args:     slices.Clone(r.Args),
		})
	}
	return s
}

// applies is docker's rule for includes and excludes: every included
// capability and no excluded one in caps, goarch among the included arches
// and not among the excluded ones. Every minKernel is taken as met: an
// included one keeps the rule, an excluded one drops it.
func (r *seccompRule) applies(goarch string, caps []string) bool {
	if ex := r.Excludes; ex != nil {
		if slices.Contains(ex.Arches, goarch) || ex.MinKernel != "" {
			return false
		}
		if slices.ContainsFunc(ex.Caps, func(c string) bool { return slices.Contains(caps, c) }) {
			return false
		}
	}
	if in := r.Includes; in != nil {
		if len(in.Arches) > 0 && !slices.Contains(in.Arches, goarch) {
			return false
		}
		for _, c := range in.Caps {
			if !slices.Contains(caps, c) {
				return false
			}
		}
	}
	return true
}

// clonePtr returns a pointer to a copy of *p, or nil.
func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
