package rootfs

import (
	"fmt"
	"testing"
)

// Inside a docker container: / is an overlay, a slave of the host's peer
// group, a volume with a space in its name.
const mountinfoContainer = `585 497 0:52 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/A:/var/lib/docker/overlay2/l/B,upperdir=/var/lib/docker/overlay2/x/diff,workdir=/var/lib/docker/overlay2/x/work
586 585 0:55 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
600 585 8:1 /var/lib/docker/volumes/v/_data /srv/my\040data rw,relatime master:1 - ext4 /dev/sda1 rw
`

func TestParseMountInfo(t *testing.T) {
	ms, err := ParseMountInfo(mountinfoContainer)
	if err != nil {
		t.Fatal(err)
	}
	want := MountInfo{ID: 600, Parent: 585, Root: "/var/lib/docker/volumes/v/_data", Point: "/srv/my data",
		Optional: []string{"master:1"}, FSType: "ext4", Source: "/dev/sda1", SuperOptions: []string{"rw"}}
	if got := ms[2]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("line 3 = %+v, want %+v", got, want)
	}
	if len(ms[1].Optional) != 0 {
		t.Errorf("private mount has optional fields %q", ms[1].Optional)
	}
	for _, bad := range []string{"", "1 2 3", "x 1 0:2 / / rw - ext4 /dev/a rw", "1 1 0:2 / / rw ext4 /dev/a rw"} {
		if _, err := ParseMountInfo(bad); err == nil {
			t.Errorf("ParseMountInfo(%q) accepted", bad)
		}
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`/plain`:           "/plain",
		`/a\040b`:          "/a b",
		`/tab\011nl\012`:   "/tab\tnl\n",
		`/back\134slash`:   `/back\slash`,
		`/short\04`:        `/short\04`,
		`/not\999octal`:    `/not\999octal`,
		`\040at-the-start`: " at-the-start",
	} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}
