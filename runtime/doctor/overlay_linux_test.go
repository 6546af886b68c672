package doctor

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/testenv"
	"github.com/minirun/minirun/rootfs"
)

// The trial overlay works on a plain directory, and leaves neither a file
// nor a mount behind, in the test's namespace or anywhere it could see.
func TestTrialOverlay(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	before := mountsUnder(t, dir)
	if err := trialOverlay(dir); err != nil {
		t.Fatalf("trialOverlay(%s): %v", dir, err)
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) > 0 {
		t.Errorf("left in %s: %v (%v)", dir, ents, err)
	}
	if after := mountsUnder(t, dir); after != before {
		t.Errorf("mounts under %s: %d before, %d after", dir, before, after)
	}
}

// A store on an overlayfs (minirun in a container) is found out: the
// kernel refuses an overlay as an upper layer, the store check reads the
// filesystem's type, and the finding says both.
func TestTrialOverlayOnOverlay(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	o := &rootfs.Overlay{Lower: []string{dir + "/l"}, Upper: dir + "/u", Work: dir + "/w"}
	for _, d := range []string{o.Lower[0], o.Upper, o.Work, dir + "/store"} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := rootfs.MountOverlay(dir+"/store", o); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir+"/store", unix.MNT_DETACH); err != nil {
			t.Error(err)
		}
	})
	b, err := os.ReadFile("/proc/thread-self/mountinfo") // see Gather
	if err != nil {
		t.Fatal(err)
	}
	ms, err := rootfs.ParseMountInfo(string(b))
	if err != nil {
		t.Fatal(err)
	}
	s := gatherStore(dir+"/store/minirun", ms)
	if s.Err != nil || s.Dir != dir+"/store" || s.FSType != "overlay" || s.Mount != dir+"/store" {
		t.Fatalf("gatherStore = %+v", s)
	}
	trial := OverlayTrial{Store: s.Path, Dir: s.Dir, FSType: s.FSType, Tried: true, Err: trialOverlay(s.Dir)}
	f := checkOverlay(trial, readFile("/proc/filesystems"))
	checkFinding(t, f, "overlay", Fail, []string{"itself on an overlayfs"}, []string{"mount -t tmpfs tmpfs " + dir + "/store/minirun"})
	if ents, err := os.ReadDir(dir + "/store"); err != nil || len(ents) > 0 {
		t.Errorf("left in the store: %v (%v)", ents, err)
	}
}

func mountsUnder(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/thread-self/mountinfo") // see Gather
	if err != nil {
		t.Fatal(err)
	}
	ms, err := rootfs.ParseMountInfo(string(b))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range ms {
		if under(m.Point, dir) {
			n++
		}
	}
	return n
}
