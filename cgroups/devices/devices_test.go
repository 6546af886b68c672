package devices

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestDescribe(t *testing.T) {
	rs := []specs.LinuxDeviceCgroup{
		dev("deny", "a", star, star, "rwm"),
		dev("allow", "c", 1, 3, "rwm"),
		dev("allow", "c", 136, star, "rw"),
		dev("deny", "", star, 7, "m"),
		dev("allow", "b", 8, 0, ""),
		{Allow: true, Type: "c", Major: i64(-1), Minor: i64(-1), Access: "m"},
		dev("allow", "x", 1, 2, "q"), // shown as written, though Program refuses it
	}
	want := []string{
		"deny a *:* rwm",
		"allow c 1:3 rwm",
		"allow c 136:* rw",
		"deny a *:7 m",
		"allow b 8:0 -",
		"allow c *:* m",
		"allow x 1:2 q",
	}
	if got := Describe(rs); !slices.Equal(got, want) {
		t.Errorf("Describe =\n%q\nwant\n%q", got, want)
	}
}

// TestDefaultAllow pins the list: these are exactly runc's defaults
// without tun, and each is a plain allow of all of rwm.
func TestDefaultAllow(t *testing.T) {
	want := []string{
		"allow c 1:3 rwm", "allow c 1:5 rwm", "allow c 1:7 rwm", "allow c 1:8 rwm", "allow c 1:9 rwm",
		"allow c 5:0 rwm", "allow c 5:1 rwm", "allow c 5:2 rwm",
		"allow c 136:* rwm",
	}
	if got := Describe(DefaultAllow); !slices.Equal(got, want) {
		t.Errorf("DefaultAllow =\n%q\nwant\n%q", got, want)
	}
	// After a deny-all they open exactly these devices.
	rs := append([]specs.LinuxDeviceCgroup{dev("deny", "a", star, star, "rwm")}, DefaultAllow...)
	for _, d := range []struct {
		major, minor int64
		want         bool
	}{{1, 3, true}, {1, 9, true}, {5, 2, true}, {136, 42, true}, {1, 1, false}, {10, 200, false}, {4, 0, false}} {
		if got := decide(rs, 'c', d.major, d.minor, "rwm"); got != d.want {
			t.Errorf("c %d:%d rwm allowed = %v, want %v", d.major, d.minor, got, d.want)
		}
	}
}
