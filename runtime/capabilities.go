package runtime

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minirun/minirun/runtime/spec"
)

// capSets holds the five capability sets of capabilities(7) as bit masks,
// bit N standing for capability number N.
type capSets struct {
	Bounding, Effective, Permitted, Inheritable, Ambient uint64
}

// capMask turns capability names into a mask. Names the table does not know
// (a newer kernel's, or a typo) are returned apart, so that the caller can
// log them: runc skips them with a warning rather than failing.
func capMask(names []string) (mask uint64, unknown []string) {
	for _, name := range names {
		n := capNumber(name)
		if n < 0 {
			unknown = append(unknown, name)
			continue
		}
		mask |= 1 << uint(n)
	}
	return mask, unknown
}

func capNumber(name string) int {
	name = strings.ToUpper(name)
	if !strings.HasPrefix(name, "CAP_") {
		name = "CAP_" + name
	}
	for i, n := range spec.CapabilityNames {
		if n == name {
			return i
		}
	}
	return -1
}

// capSetsOf converts the spec's capabilities; a nil spec means no
// capabilities at all, as in runc.
func capSetsOf(c *specs.LinuxCapabilities) (capSets, []string) {
	var s capSets
	if c == nil {
		return s, nil
	}
	var unknown, u []string
	s.Bounding, u = capMask(c.Bounding)
	unknown = append(unknown, u...)
	s.Effective, u = capMask(c.Effective)
	unknown = append(unknown, u...)
	s.Permitted, u = capMask(c.Permitted)
	unknown = append(unknown, u...)
	s.Inheritable, u = capMask(c.Inheritable)
	unknown = append(unknown, u...)
	s.Ambient, u = capMask(c.Ambient)
	unknown = append(unknown, u...)
	return s, unknown
}

// capNames lists the names in mask, for logs a person reads.
func capNames(mask uint64) string {
	var names []string
	for i, n := range spec.CapabilityNames {
		if mask&(1<<uint(i)) != 0 {
			names = append(names, strings.TrimPrefix(n, "CAP_"))
		}
	}
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(names, ",")
}

func (s capSets) String() string {
	return fmt.Sprintf("bounding=%s effective=%s permitted=%s inheritable=%s ambient=%s",
		capNames(s.Bounding), capNames(s.Effective), capNames(s.Permitted),
		capNames(s.Inheritable), capNames(s.Ambient))
}
