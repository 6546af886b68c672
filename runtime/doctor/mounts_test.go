package doctor

import (
	"errors"
	"io/fs"
	"slices"
	"testing"

	"github.com/minirun/minirun/rootfs"
)

// Captured /proc/self/mountinfo texts.
const (
	// A VM with hybrid cgroups, / private, no systemd.
	mountinfoHybrid = `22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334460k,nr_inodes=3083615,mode=755
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 27 0:39 / /tmp/mrs rw,relatime - tmpfs tmpfs rw
46 27 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda rw,discard
`
	// Debian 12 with systemd: / shared, /var/lib on a disk of its own.
	mountinfoSystemd = `21 26 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
30 26 8:17 / /var/lib rw,relatime shared:12 - xfs /dev/sdb1 rw,attr2,inode64
31 21 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`
	// A busybox system still on its initramfs.
	mountinfoInitramfs = `1 1 0:2 / / rw - rootfs rootfs rw,size=1007108k,nr_inodes=251777
14 1 0:5 / /dev rw,relatime - devtmpfs devtmpfs rw,size=1007116k,nr_inodes=251779,mode=755
15 1 0:13 / /proc rw,relatime - proc proc rw
`
	// Inside a docker container: / is an overlay, a slave of the host's
	// peer group, a volume with a space in its name.
	mountinfoContainer = `585 497 0:52 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/A:/var/lib/docker/overlay2/l/B,upperdir=/var/lib/docker/overlay2/x/diff,workdir=/var/lib/docker/overlay2/x/work
586 585 0:55 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
600 585 8:1 /var/lib/docker/volumes/v/_data /srv/my\040data rw,relatime master:1 - ext4 /dev/sda1 rw
`
	// / mounted over: a tmpfs stacked on the initramfs (switch_root keeps
	// the rootfs below).
	mountinfoStacked = `1 1 0:2 / / rw - rootfs rootfs rw
20 1 0:20 / / rw,relatime - tmpfs tmpfs rw
`
)

func TestMountAt(t *testing.T) {
	for _, tc := range []struct {
		text, path, point, fstype string
	}{
		{mountinfoHybrid, "/var/lib/minirun", "/", "ext4"},
		{mountinfoHybrid, "/tmp/mrs/store", "/tmp/mrs", "tmpfs"},
		{mountinfoHybrid, "/tmp/mrsx", "/", "ext4"}, // a prefix of a name is no parent
		{mountinfoSystemd, "/var/lib/minirun", "/var/lib", "xfs"},
		{mountinfoSystemd, "/var/library", "/", "ext4"},
		{mountinfoStacked, "/var/lib/minirun", "/", "tmpfs"}, // the mount on top
		{mountinfoContainer, "/srv/my data/store", "/srv/my data", "ext4"},
	} {
		ms, err := rootfs.ParseMountInfo(tc.text)
		if err != nil {
			t.Fatal(err)
		}
		m, ok := mountAt(ms, tc.path)
		if !ok || m.Point != tc.point || m.FSType != tc.fstype {
			t.Errorf("mountAt(%s) = %s %s (%v), want %s %s", tc.path, m.Point, m.FSType, ok, tc.point, tc.fstype)
		}
	}
}

func TestCheckRootAndPropagation(t *testing.T) {
	for _, tc := range []struct {
		name       string
		text       string
		err        error
		root, prop Status
		rootMsg    []string
		rootFix    []string
		propMsg    []string
	}{
		{name: "private ext4", text: mountinfoHybrid, root: OK, prop: Info,
			rootMsg: []string{"ext4 (/dev/vda): pivot_root works"}, propMsg: []string{"/ is private"}},
		{name: "shared", text: mountinfoSystemd, root: OK, prop: OK,
			propMsg: []string{"shared (peer group 1)"}},
		{name: "slave overlay", text: mountinfoContainer, root: OK, prop: Info,
			rootMsg: []string{"/ is overlay"}, propMsg: []string{"slave of peer group 1"}},
		{name: "initramfs", text: mountinfoInitramfs, root: Fail, prop: Info,
			rootMsg: []string{"initramfs", "pivot_root(2) fails with EINVAL", "--no-pivot"},
			rootFix: []string{"--no-pivot", "switch_root"}},
		{name: "tmpfs over the initramfs", text: mountinfoStacked, root: OK, prop: Info},
		{name: "unreadable", err: fs.ErrPermission, root: Warn, prop: Warn,
			rootMsg: []string{"cannot tell"}, propMsg: []string{"cannot tell"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := rootfs.ParseMountInfo(tc.text)
			if tc.err != nil {
				err = tc.err
			}
			checkFinding(t, checkRoot(ms, err), "root", tc.root, tc.rootMsg, tc.rootFix)
			p := checkPropagation(ms, err)
			checkFinding(t, p, "propagation", tc.prop, tc.propMsg, nil)
			if p.Status == Info && p.Fix != "mount --make-rshared / (what systemd does at boot)" {
				t.Errorf("propagation fix = %q", p.Fix)
			}
		})
	}
}

const procFilesystems = "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\n\text4\nnodev\toverlay\n\txfs\n"

func TestCheckOverlay(t *testing.T) {
	mountErr := errors.New("mount overlay of 1 layers on /s/.minirun-doctor-1/merged: fsconfig: invalid argument")
	noOverlay := File{Data: "nodev\tsysfs\n\text4\n"}
	for _, tc := range []struct {
		name     string
		trial    OverlayTrial
		fsys     File
		status   Status
		msg, fix []string
	}{
		{name: "works", trial: OverlayTrial{Store: "/s", Dir: "/s", FSType: "ext4", Tried: true}, fsys: File{Data: procFilesystems},
			status: OK, msg: []string{"(ext4) mounted, copied up and whited out"}},
		{name: "overlay on overlay works", trial: OverlayTrial{Store: "/s", Dir: "/s", FSType: "overlay", Tried: true}, fsys: File{Data: procFilesystems},
			status: OK, msg: []string{"an overlay on an overlay"}},
		{name: "overlay on overlay fails", trial: OverlayTrial{Store: "/var/lib/minirun", Dir: "/var/lib/minirun", FSType: "overlay", Tried: true, Err: mountErr},
			fsys: File{Data: procFilesystems}, status: Fail,
			msg: []string{"itself on an overlayfs", "invalid argument", "image runs fail"},
			fix: []string{"mount -t tmpfs tmpfs /var/lib/minirun", "--store DIR"}},
		{name: "no overlayfs", trial: OverlayTrial{Store: "/s", Dir: "/s", FSType: "ext4", Tried: true, Err: mountErr}, fsys: noOverlay,
			status: Fail, msg: []string{"no overlayfs"}, fix: []string{"modprobe overlay"}},
		{name: "filesystem refuses", trial: OverlayTrial{Store: "/s", Dir: "/s", FSType: "nfs4", Tried: true, Err: mountErr}, fsys: File{Data: procFilesystems},
			status: Fail, msg: []string{"in /s (nfs4) failed"}, fix: []string{"--store DIR"}},
		{name: "not root", trial: OverlayTrial{Store: "/s", Dir: "/s", FSType: "ext4"}, fsys: File{Data: procFilesystems},
			status: Info, msg: []string{"only root"}, fix: []string{"sudo minirun doctor"}},
		{name: "not root, not listed", trial: OverlayTrial{Store: "/s", Dir: "/s", FSType: "ext4"}, fsys: noOverlay,
			status: Warn, msg: []string{"not in /proc/filesystems"}, fix: []string{"modprobe overlay"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkFinding(t, checkOverlay(tc.trial, tc.fsys), "overlay", tc.status, tc.msg, tc.fix)
		})
	}
}

func TestCheckStore(t *testing.T) {
	const gib = 1 << 30
	base := StoreInput{Path: "/var/lib/minirun", Dir: "/var/lib/minirun", Mount: "/", FSType: "ext4", Avail: 75 * gib, Size: 252 * gib, Writable: true}
	with := func(f func(*StoreInput)) StoreInput {
		s := base
		f(&s)
		return s
	}
	for _, tc := range []struct {
		name     string
		in       StoreInput
		status   Status
		msg, fix []string
	}{
		{name: "plenty", in: base, status: OK, msg: []string{"/var/lib/minirun (ext4 on /): 75.0 GiB free of 252.0 GiB"}},
		{name: "not made yet", in: with(func(s *StoreInput) { s.Dir = "/var/lib" }), status: OK, msg: []string{"/var/lib/minirun (not made yet; /var/lib is ext4 on /): 75.0 GiB free"}},
		{name: "low", in: with(func(s *StoreInput) { s.Avail = 300 << 20 }), status: Warn,
			msg: []string{"only 300.0 MiB free"}, fix: []string{"minirun image prune", "--store DIR"}},
		{name: "just enough", in: with(func(s *StoreInput) { s.Avail = gib }), status: OK},
		{name: "read-only", in: with(func(s *StoreInput) { s.ReadOnly, s.Mount = true, "/var/lib" }), status: Fail,
			msg: []string{"read-only filesystem"}, fix: []string{"mount -o remount,rw /var/lib"}},
		{name: "not writable", in: with(func(s *StoreInput) { s.Writable = false }), status: Fail,
			msg: []string{"not writable"}, fix: []string{"sudo"}},
		{name: "unreadable", in: with(func(s *StoreInput) { s.Err = fs.ErrPermission }), status: Warn, msg: []string{"cannot look at the store"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkFinding(t, checkStore(tc.in), "store", tc.status, tc.msg, tc.fix)
		})
	}
}

func TestBytesString(t *testing.T) {
	got := []string{bytesString(0), bytesString(1023), bytesString(1536), bytesString(5 << 30), bytesString(3 << 40)}
	want := []string{"0 B", "1023 B", "1.5 KiB", "5.0 GiB", "3.0 TiB"}
	if !slices.Equal(got, want) {
		t.Errorf("bytesString = %q, want %q", got, want)
	}
}
