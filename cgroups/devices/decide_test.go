package devices

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// decide is the specification of the rules, written as plainly as
// possible and independently of the compiler: for each access the request
// asks for (typ is 'c' or 'b', access a subset of "rwm"), scan all rules
// in order and keep the verdict of the last one that matches the device
// and lists the access; no match means deny. The request is allowed when
// every access it asks for is. Tests hold both the generated program
// (interpreted here, and run by the kernel in the root tests) to it.
func decide(rules []specs.LinuxDeviceCgroup, typ rune, major, minor int64, access string) bool {
	if access == "" {
		return false
	}
	for _, a := range access {
		allowed := false
		for _, r := range rules {
			if matches(r, typ, major, minor) && strings.ContainsRune(r.Access, a) {
				allowed = r.Allow
			}
		}
		if !allowed {
			return false
		}
	}
	return true
}

func matches(r specs.LinuxDeviceCgroup, typ rune, major, minor int64) bool {
	if r.Type != "" && r.Type != "a" && r.Type != string(typ) {
		return false
	}
	if r.Major != nil && *r.Major != -1 && *r.Major != major {
		return false
	}
	if r.Minor != nil && *r.Minor != -1 && *r.Minor != minor {
		return false
	}
	return true
}

// dev builds a rule for tables: dev("allow", "c", 1, 3, "rw"), with star
// for a wildcard number.
const star = -2

func dev(verdict, typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
	r := specs.LinuxDeviceCgroup{Allow: verdict == "allow", Type: typ, Access: access}
	if major != star {
		r.Major = i64(major)
	}
	if minor != star {
		r.Minor = i64(minor)
	}
	return r
}

var (
	denyAll  = dev("deny", "a", star, star, "rwm")
	allowAll = dev("allow", "a", star, star, "rwm")
)

func rules(rs ...specs.LinuxDeviceCgroup) []specs.LinuxDeviceCgroup { return rs }

func TestDecide(t *testing.T) {
	tests := []struct {
		name   string
		rules  []specs.LinuxDeviceCgroup
		typ    rune
		major  int64
		minor  int64
		access string
		want   bool
	}{
		{"no rules deny", nil, 'c', 1, 3, "r", false},
		{"allow all", rules(allowAll), 'b', 8, 0, "rwm", true},
		{"deny all", rules(denyAll), 'c', 1, 3, "r", false},
		{"hole in deny all", rules(denyAll, dev("allow", "c", 1, 3, "rwm")), 'c', 1, 3, "rw", true},
		{"hole is only that device", rules(denyAll, dev("allow", "c", 1, 3, "rwm")), 'c', 1, 5, "r", false},
		{"hole is only that type", rules(denyAll, dev("allow", "c", 1, 3, "rwm")), 'b', 1, 3, "r", false},
		{"later deny overrides allow", rules(allowAll, dev("deny", "c", 1, 3, "w")), 'c', 1, 3, "w", false},
		{"later deny leaves other accesses", rules(allowAll, dev("deny", "c", 1, 3, "w")), 'c', 1, 3, "rm", true},
		{"rw needs both", rules(allowAll, dev("deny", "c", 1, 3, "w")), 'c', 1, 3, "rw", false},
		{"earlier allow is overridden", rules(dev("allow", "c", 1, 3, "rwm"), denyAll), 'c', 1, 3, "r", false},
		{"r and w from two rules", rules(dev("allow", "c", 1, 3, "r"), dev("allow", "c", 1, 3, "w")), 'c', 1, 3, "rw", true},
		{"wildcard major", rules(dev("allow", "c", star, 3, "r")), 'c', 7, 3, "r", true},
		{"wildcard minor", rules(dev("allow", "c", 136, star, "rw")), 'c', 136, 9, "rw", true},
		{"minus one is a wildcard", rules(specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(-1), Minor: i64(3), Access: "r"}), 'c', 9, 3, "r", true},
		{"empty type is all", rules(dev("allow", "", 1, 3, "r")), 'b', 1, 3, "r", true},
		{"a with numbers is literal", rules(dev("deny", "a", 1, 3, "r"), dev("allow", "c", 1, 5, "r")), 'c', 1, 5, "r", true},
		{"hole in wildcard deny", rules(allowAll, dev("deny", "c", star, star, "rwm"), dev("allow", "c", 1, 3, "r")), 'c', 1, 3, "r", true},
		{"mknod only", rules(denyAll, dev("allow", "c", star, star, "m")), 'c', 1, 3, "m", true},
		{"mknod only, no read", rules(denyAll, dev("allow", "c", star, star, "m")), 'c', 1, 3, "r", false},
		{"empty access changes nothing", rules(allowAll, dev("deny", "c", 1, 3, "")), 'c', 1, 3, "rwm", true},
		{"nothing requested", rules(allowAll), 'c', 1, 3, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decide(tt.rules, tt.typ, tt.major, tt.minor, tt.access); got != tt.want {
				t.Errorf("decide(%q, %c %d:%d %s) = %v, want %v", Describe(tt.rules), tt.typ, tt.major, tt.minor, tt.access, got, tt.want)
			}
		})
	}
}
