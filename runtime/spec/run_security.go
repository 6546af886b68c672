package spec

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The security side of an image run: the capability sets after
// --privileged, --cap-add and --cap-drop, and the seccomp profile that
// follows from them and from --security-opt.

// runCapabilities returns the process's capabilities after --privileged,
// --cap-add and --cap-drop, or nil when none is given and base's stay.
//
// The rules are docker's, its CLI's and its daemon's together:
//
//   - --privileged gives every capability and ignores the other two.
//   - Names are case-insensitive, with or without CAP_; "ALL" stands for
//     every capability.
//   - ALL among the added makes the other added names moot, ALL among the
//     dropped the other dropped ones.
//   - Of what is left, a name both added and dropped is added: ALL added
//     and dropped is every capability.
//   - Then: with ALL added, every capability but the dropped ones; with ALL
//     dropped, only the added ones, in name order; otherwise base's
//     bounding set without the dropped ones, then the added ones in name
//     order.
//
// The result goes into the bounding, effective and permitted sets, none
// into inheritable or ambient, as docker does for every user. Every name is
// checked, even one that ALL makes moot (docker lets those through
// unchecked). "Every capability" is CapabilityNames; the runtime leaves out
// the ones the running kernel does not know.
func runCapabilities(base *specs.LinuxCapabilities, add, drop []string, privileged bool, host []string) (*specs.LinuxCapabilities, error) {
	adds, err := normalizeCaps("--cap-add", add)
	if err != nil {
		return nil, err
	}
	drops, err := normalizeCaps("--cap-drop", drop)
	if err != nil {
		return nil, err
	}
	if !privileged && len(adds) == 0 && len(drops) == 0 {
		return nil, nil
	}
	all := CapabilityNames
	if len(host) > 0 {
		all = host
	}
	var caps []string
	switch {
	case privileged:
		caps = slices.Clone(all)
	case slices.Contains(adds, "ALL"):
		if slices.Contains(drops, "ALL") {
			drops = nil // added and dropped: added
		}
		for _, name := range all {
			if !slices.Contains(drops, name) {
				caps = append(caps, name)
			}
		}
	case slices.Contains(drops, "ALL"):
		caps = adds
	default:
		var bounding []string
		if base != nil {
			bounding = base.Bounding
		}
		for _, name := range bounding {
			if !slices.Contains(drops, name) || slices.Contains(adds, name) {
				caps = append(caps, name)
			}
		}
		for _, name := range adds {
			if !slices.Contains(caps, name) {
				caps = append(caps, name)
			}
		}
	}
	return &specs.LinuxCapabilities{
		Bounding:  caps,
		Effective: slices.Clone(caps),
		Permitted: slices.Clone(caps),
	}, nil
}

// runSeccomp returns linux.seccomp after --security-opt seccomp=...,
// --cap-add and --cap-drop, and whether it differs from base's. baseCaps
// are base's capabilities, caps the run's (nil: base's stay). Privileged is
// planRun's, which drops the filter afterwards.
func runSeccomp(base *specs.Spec, baseCaps, caps *specs.LinuxCapabilities, r ImageRun) (*specs.LinuxSeccomp, bool, error) {
	if r.Privileged {
		return nil, false, nil
	}
	bounding := func(c *specs.LinuxCapabilities) []string {
		if c == nil {
			return nil
		}
		return c.Bounding
	}
	final := bounding(baseCaps)
	if caps != nil {
		final = caps.Bounding
	}
	switch {
	case r.Seccomp != nil && r.SeccompUnconfined:
		return nil, false, errors.New("--security-opt: seccomp=unconfined and a seccomp profile together")
	case r.SeccompUnconfined:
		return nil, true, nil
	case r.Seccomp != nil:
		return r.Seccomp.Spec(final), true, nil
	case caps == nil || base.Linux == nil || base.Linux.Seccomp == nil:
		return nil, false, nil
	}
	// Docker builds its default profile from the capabilities the
	// container ends up with; base's, when it is the default, was built
	// from base's.
	if reflect.DeepEqual(base.Linux.Seccomp, DefaultSeccomp(bounding(baseCaps))) {
		return DefaultSeccomp(final), true, nil
	}
	return nil, false, nil
}

// normalizeCaps turns --cap-add or --cap-drop names into CapabilityNames
// entries or "ALL", sorted and without repeats.
func normalizeCaps(flag string, names []string) ([]string, error) {
	var caps []string
	for _, name := range names {
		c := strings.ToUpper(name)
		if c != "ALL" {
			if !strings.HasPrefix(c, "CAP_") {
				c = "CAP_" + c
			}
			if !slices.Contains(CapabilityNames, c) {
				return nil, fmt.Errorf("%s %s: unknown capability", flag, name)
			}
		}
		caps = append(caps, c)
	}
	slices.Sort(caps)
	return slices.Compact(caps), nil
}
