package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/testenv"
)

// nsThread is one OS thread with a mount namespace of its own, made
// private: what it mounts never reaches the host, and if the test dies,
// the namespace dies with the process. Everything that must see the
// namespace (mounts, and the reads of the merged view) runs on it
// through do.
type nsThread struct{ work chan func() }

func newNSThread(t *testing.T) *nsThread {
	t.Helper()
	n := &nsThread{work: make(chan func())}
	ready := make(chan error)
	go func() {
		goruntime.LockOSThread()
		if unix.Gettid() != unix.Getpid() {
			n.serve(ready)
			return
		}
		// The main thread: Go never ends it, so its namespace would
		// outlive the test, and /proc/self would show that namespace.
		// Hold it until another goroutine, which cannot get it now, has a
		// thread of its own.
		locked := make(chan struct{})
		go func() {
			goruntime.LockOSThread()
			close(locked)
			n.serve(ready)
		}()
		<-locked
		goruntime.UnlockOSThread()
	}()
	if err := <-ready; err != nil {
		t.Fatalf("a mount namespace for the test: %v", err)
	}
	t.Cleanup(func() { close(n.work) })
	return n
}

// serve runs on a locked thread other than the main one, and never
// unlocks it: the thread exits with the goroutine and takes its mount
// namespace along. unshare(CLONE_NEWNS) needs an fs_struct of the
// thread's own, hence CLONE_FS.
func (n *nsThread) serve(ready chan<- error) {
	err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS)
	if err == nil {
		err = unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "")
	}
	ready <- err
	if err != nil {
		return
	}
	for f := range n.work {
		f()
	}
}

// do runs f on the namespace's thread.
func (n *nsThread) do(f func() error) error {
	errc := make(chan error)
	n.work <- func() { errc <- f() }
	return <-errc
}

// mountLines returns the lines of a mountinfo file whose mount point is
// target or under it.
func mountLines(t *testing.T, file, target string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) > 4 {
			if p := unescapeOctal(f[4]); p == target || strings.HasPrefix(p, target+"/") {
				out = append(out, strings.TrimSpace(line))
			}
		}
	}
	return out
}

// The layers buildLayers makes, bottom (0) to top (n-1):
//
//	every layer i  lNN ("NN"), dir/fNN, shadow ("NN": the top one wins)
//	0              gone, reborn ("0"), opaque/old, opaque/sub/older, subtree/a
//	10             gone: a whiteout
//	20             reborn: a whiteout
//	35             opaque/ with trusted.overlay.opaque=y, opaque/new35
//	40             opaque/new40 (merges on top of the opaque dir)
//	50             reborn ("50"): back over its own whiteout
//	60             subtree: a whiteout of a whole directory
const (
	whiteoutGone, whiteoutReborn, opaqueLayer, aboveOpaque, rebornLayer, whiteoutDir = 10, 20, 35, 40, 50, 60
)

// buildLayers makes n (> 60) layer directories under dir, named like the
// image store's, and returns them newest first, as Overlay.Lower wants.
func buildLayers(t *testing.T, dir string, n int) []string {
	t.Helper()
	var lower []string
	for i := range n {
		l := filepath.Join(dir, "sha256", fmt.Sprintf("%064x", 0xa000+i))
		files := map[string]string{
			fmt.Sprintf("l%02d", i):     fmt.Sprintf("%02d", i),
			fmt.Sprintf("dir/f%02d", i): "",
			"shadow":                    fmt.Sprintf("%02d", i),
		}
		switch i {
		case 0:
			files["gone"], files["reborn"], files["opaque/old"], files["opaque/sub/older"], files["subtree/a"] = "", "0", "", "", ""
		case opaqueLayer, aboveOpaque:
			files[fmt.Sprintf("opaque/new%d", i)] = ""
		case rebornLayer:
			files["reborn"] = "50"
		}
		for name, data := range files {
			p := filepath.Join(l, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		whiteout := map[int]string{whiteoutGone: "gone", whiteoutReborn: "reborn", whiteoutDir: "subtree"}[i]
		if whiteout != "" {
			if err := unix.Mknod(filepath.Join(l, whiteout), unix.S_IFCHR|0o600, 0); err != nil {
				t.Fatalf("whiteout: %v", err)
			}
		}
		if i == opaqueLayer {
			if err := unix.Setxattr(filepath.Join(l, "opaque"), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
				testenv.SkipOrFail(t, "no trusted.* xattrs on the temp dir's filesystem: "+err.Error())
			}
		}
		lower = append(lower, l)
	}
	slices.Reverse(lower)
	return lower
}

// checkMerged reads the merged view at m and compares it with what the n
// layers of buildLayers must give.
func checkMerged(t *testing.T, m string, n int) {
	t.Helper()
	names := func(dir string) []string {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Errorf("read %s: %v", dir, err)
			return nil
		}
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		return out
	}
	want := []string{"dir", "opaque", "reborn", "shadow"}
	var wantDir []string
	for i := range n {
		want = append(want, fmt.Sprintf("l%02d", i))
		wantDir = append(wantDir, fmt.Sprintf("f%02d", i))
	}
	slices.Sort(want)
	if got := names(m); !slices.Equal(got, want) {
		t.Errorf("merged / = %q\nwant %q", got, want)
	}
	if got := names(filepath.Join(m, "dir")); !slices.Equal(got, wantDir) {
		t.Errorf("merged /dir = %q\nwant %q", got, wantDir)
	}
	if got, want := names(filepath.Join(m, "opaque")), []string{"new35", "new40"}; !slices.Equal(got, want) {
		t.Errorf("merged /opaque = %q, want %q: the opaque dir must hide the layers below it only", got, want)
	}
	for name, want := range map[string]string{
		"shadow": fmt.Sprintf("%02d", n-1), // the topmost layer's
		"reborn": "50",                     // the whiteout of layer 20 hides layer 0's, not layer 50's
		"l00":    "00",
		"l42":    "42",
	} {
		if got, err := os.ReadFile(filepath.Join(m, name)); err != nil || string(got) != want {
			t.Errorf("merged /%s = %q, %v; want %q", name, got, err, want)
		}
	}
	for _, name := range []string{"gone", "subtree", "subtree/a", "opaque/old", "opaque/sub"} {
		if _, err := os.Lstat(filepath.Join(m, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("merged /%s: %v, want it hidden (ENOENT)", name, err)
		}
	}
}

func TestLowerdirAppendProbe(t *testing.T) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	release := unix.ByteSliceToString(u.Release[:])
	var major, minor int
	fmt.Sscanf(release, "%d.%d", &major, &minor)
	got := lowerdirAppend()
	t.Logf("kernel %s: lowerdir+ %v", release, got)
	// Only one way is a sure bug: every kernel since 6.8 has lowerdir+;
	// an older one may have it backported.
	if (major > 6 || major == 6 && minor >= 8) && !got {
		if _, err := os.Stat("/sys/module/overlay"); err != nil {
			testenv.SkipOrFail(t, "no overlay module: "+err.Error())
		}
		t.Errorf("kernel %s has lowerdir+, the probe says no", release)
	}
}

// TestMountOverlay mounts 70 layers, more than mount(2)'s one page of
// options could name by path, through both code paths, with and without
// an upper dir, and reads the merged view.
func TestMountOverlay(t *testing.T) {
	testenv.RequireRoot(t)
	for _, tt := range []struct {
		name     string
		data     bool // force the mount(2) fallback
		readOnly bool
	}{
		{"lowerdir+", false, false},
		{"lowerdir+/read-only", false, true},
		{"fallback", true, false},
		{"fallback/read-only", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.data && !lowerdirAppend() {
				t.Skip("this kernel has no lowerdir+ (before 6.8): only the fallback applies")
			}
			forceOverlayData = tt.data
			t.Cleanup(func() { forceOverlayData = false })
			testMountOverlay(t, tt.readOnly)
		})
	}
}

func testMountOverlay(t *testing.T, readOnly bool) {
	const n = 70
	dir := t.TempDir()
	o := &Overlay{Lower: buildLayers(t, dir, n)}
	if size := len(strings.Join(o.Lower, ":")); size < unix.Getpagesize() {
		t.Fatalf("the layer paths take %d bytes, less than a page: the test proves nothing", size)
	}
	if !readOnly {
		o.Upper, o.Work = filepath.Join(dir, "upper"), filepath.Join(dir, "work")
		for _, d := range []string{o.Upper, o.Work} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	target := filepath.Join(dir, "merged")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}

	ns := newNSThread(t)
	// Cleanups run last first: unmount, then look for leftovers.
	t.Cleanup(func() {
		ns.do(func() error {
			if l := mountLines(t, "/proc/thread-self/mountinfo", target); len(l) > 0 {
				t.Errorf("mounts left in the test's namespace after unmount: %q", l)
			}
			return nil
		})
		if l := mountLines(t, "/proc/self/mountinfo", dir); len(l) > 0 {
			t.Errorf("mounts on the host: %q", l)
		}
	})
	t.Cleanup(func() {
		err := ns.do(func() error { return unix.Unmount(target, unix.MNT_DETACH) })
		if err != nil && err != unix.EINVAL { // EINVAL: not mounted (the mount failed)
			t.Errorf("unmount %s: %v", target, err)
		}
	})
	if err := ns.do(func() error { return MountOverlay(target, o) }); err != nil {
		t.Fatal(err)
	}

	var lines []string
	ns.do(func() error {
		lines = mountLines(t, "/proc/thread-self/mountinfo", target)
		checkMerged(t, target, n)
		return nil
	})
	if len(lines) != 1 || !strings.Contains(lines[0], " - overlay overlay ") {
		t.Fatalf("mountinfo at %s: %q, want one overlay", target, lines)
	}
	t.Logf("mountinfo: %.300s...", lines[0])
	if forceOverlayData && !strings.Contains(lines[0], "lowerdir=/proc/self/fd/") {
		t.Errorf("fallback: lowerdir is not named by fds: %s", lines[0])
	}
	if got := mountLines(t, "/proc/self/mountinfo", dir); len(got) > 0 {
		t.Errorf("the overlay shows on the host: %q", got)
	}

	if readOnly {
		err := ns.do(func() error { return os.WriteFile(filepath.Join(target, "new"), nil, 0o644) })
		if !errors.Is(err, unix.EROFS) {
			t.Errorf("write to a read-only overlay: %v, want EROFS", err)
		}
		return
	}
	// Writes land in the upper dir; a removed lower file becomes a
	// whiteout there, and the layer itself is untouched.
	err := ns.do(func() error {
		if err := os.WriteFile(filepath.Join(target, "new"), []byte("n"), 0o644); err != nil {
			return err
		}
		return os.Remove(filepath.Join(target, "l00"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(o.Upper, "new")); err != nil || string(b) != "n" {
		t.Errorf("upper/new = %q, %v", b, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(o.Upper, "l00"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("upper/l00: %+v, %v; want a 0/0 whiteout", st, err)
	}
	if _, err := os.Stat(filepath.Join(o.Lower[n-1], "l00")); err != nil {
		t.Errorf("the bottom layer lost l00: %v", err)
	}
	ns.do(func() error {
		if _, err := os.Stat(filepath.Join(target, "l00")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("merged /l00 after remove: %v", err)
		}
		return nil
	})
}

// TestMountOverlayErrors: what the kernel refuses comes back as an error
// that names the mount, on both paths.
func TestMountOverlayErrors(t *testing.T) {
	testenv.RequireRoot(t)
	for _, data := range []bool{false, true} {
		if !data && !lowerdirAppend() {
			continue
		}
		forceOverlayData = data
		dir := t.TempDir()
		target := filepath.Join(dir, "m")
		os.Mkdir(target, 0o755)
		ns := newNSThread(t)
		err := ns.do(func() error {
			return MountOverlay(target, &Overlay{Lower: []string{filepath.Join(dir, "missing"), dir}})
		})
		if err == nil {
			ns.do(func() error { return unix.Unmount(target, unix.MNT_DETACH) })
		}
		if !errors.Is(err, unix.ENOENT) || !strings.Contains(err.Error(), "mount overlay of 2 layers on "+target) {
			t.Errorf("data=%v: a missing layer: %v, want ENOENT naming the mount", data, err)
		}
		if err := MountOverlay(target, &Overlay{Lower: []string{"relative"}, Upper: "/u", Work: "/w"}); err == nil {
			t.Errorf("data=%v: a relative layer mounted", data)
		}
	}
	forceOverlayData = false
}

// TestContainerOverlay runs Prepare, Pivot and Finalize on an overlay root,
// through both code paths, with the overlay on a shared host mount: had
// the overlay been mounted before / was made private, it would show on
// the host.
func TestContainerOverlay(t *testing.T) {
	for _, tt := range []struct {
		name     string
		data     bool
		noPivot  bool
		prop     string
		readonly bool
	}{
		// The path the kernel allows: lowerdir+ since 6.8, else mount(2).
		{"detected/read-only root", false, false, "", true},
		{"fallback/no-pivot/rshared", true, true, "rshared", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := hostDir(t)
			base := buildRootfs(t, dir) // busybox and friends: the bottom layer
			lower := buildLayers(t, filepath.Join(dir, "layers"), 61)
			lower = append(lower, base)
			o := &Overlay{Lower: lower, Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work")}
			rootfs := filepath.Join(dir, "mnt")
			for _, d := range []string{o.Upper, o.Work, rootfs} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			spec := &specs.Spec{
				Root: &specs.Root{Path: rootfs, Readonly: tt.readonly},
				Mounts: []specs.Mount{
					{Destination: "/proc", Type: "proc", Source: "proc"},
					{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs"},
				},
				Linux: &specs.Linux{RootfsPropagation: tt.prop},
			}
			rep := runHelper(t, helperConfig{
				Rootfs: rootfs, Spec: spec, Overlay: o, OverlayData: tt.data, NoPivot: tt.noPivot,
				Read:  []string{"/", "/shadow", "/reborn", "/etc/hostname"},
				Write: []string{"/written", "/tmp/ok"},
				Exec:  []string{"/bin/busybox", "cat", "/etc/hostname", "/shadow"},
			})
			checkNoLeak(t, dir)
			if rep.Err != "" {
				t.Fatalf("%s: %s\nlog:\n%s", rep.Stage, rep.Err, strings.Join(rep.Log, "\n"))
			}
			root := findMount(rep.Mounts, "/")
			if root == nil || root.FSType != "overlay" || hasOption(root.Options, "ro") != tt.readonly {
				t.Errorf("/ in the container: %+v, want an overlay, ro=%v", root, tt.readonly)
			}
			if rep.Exec != "box\n60" {
				t.Errorf("busybox cat /etc/hostname /shadow = %q, want the base layer's hostname and the top layer's shadow", rep.Exec)
			}
			names := rep.Read["/"].Names
			for _, name := range []string{"bin", "etc", "l00", "l60", "reborn"} {
				if !slices.Contains(names, name) {
					t.Errorf("/ in the container has no %s: %q", name, names)
				}
			}
			for _, name := range []string{"gone", "subtree", "merged", "upper"} {
				if slices.Contains(names, name) {
					t.Errorf("/ in the container has %s: %q", name, names)
				}
			}
			wantWrite := 0
			if tt.readonly {
				wantWrite = int(unix.EROFS)
			}
			if got := rep.Write["/written"]; got != wantWrite {
				t.Errorf("write /written: errno %d (%v), want %d", got, unix.Errno(got), wantWrite)
			}
			_, err := os.Stat(filepath.Join(o.Upper, "written"))
			if tt.readonly != errors.Is(err, os.ErrNotExist) {
				t.Errorf("upper/written after the container wrote /written (read-only %v): %v", tt.readonly, err)
			}
			if rep.Write["/tmp/ok"] != 0 {
				t.Errorf("write /tmp/ok: errno %d", rep.Write["/tmp/ok"])
			}
			logged := func(l string) bool {
				if tt.data || !lowerdirAppend() {
					return strings.HasPrefix(l, `mount("overlay", "`+rootfs+`", "overlay", 0, "lowerdir=/proc/self/fd/`)
				}
				return strings.HasPrefix(l, "fsconfig(") && strings.HasSuffix(l, ", FSCONFIG_CMD_CREATE)")
			}
			if !slices.ContainsFunc(rep.Log, logged) {
				t.Errorf("log has no overlay mount (data=%v, lowerdir+ %v)\nlog:\n%s", tt.data, lowerdirAppend(), strings.Join(rep.Log, "\n"))
			}
		})
	}
}
