package runtime

import (
	"encoding/json"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/testenv"
	"github.com/minirun/minirun/rootfs"
	"github.com/minirun/minirun/runtime/spec"
)

// The containers these tests start re-exec the test binary as their init
// (startInit runs /proc/self/exe), so it must dispatch that first, as
// cmd/minirun does: locked to the main thread from package init on.
func init() {
	if IsInit() {
		goruntime.LockOSThread()
	}
}

func TestMain(m *testing.M) {
	if IsInit() {
		Init() // never returns
	}
	os.Exit(m.Run())
}

// overlayBundle builds, under dir, three layers by hand (a static busybox
// in the lowest), a bundle whose root.path is an empty directory, and the
// upper and work dirs; it returns the bundle and the overlay.
func overlayBundle(t *testing.T, dir string, args []string) (string, *rootfs.Overlay) {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		testenv.SkipOrFail(t, "no static /bin/busybox (apt-get install busybox-static): "+err.Error())
	}
	layer := func(name string, files map[string]string) string {
		l := filepath.Join(dir, "layers", name)
		for p, data := range files {
			p = filepath.Join(l, p)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(data), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		return l
	}
	base := layer("base", map[string]string{"bin/busybox": string(bb), "etc/msg": "base\n", "gone": "", "proc/.keep": "", "dev/.keep": ""})
	mid := layer("mid", map[string]string{"etc/msg": "mid\n"})
	// A whiteout: the base layer's /gone is not in the merged tree.
	if err := unix.Mknod(filepath.Join(mid, "gone"), unix.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	top := layer("top", map[string]string{"top": "top\n"})
	o := &rootfs.Overlay{Lower: []string{top, mid, base}, Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work")}

	bundle := filepath.Join(dir, "bundle")
	for _, d := range []string{o.Upper, o.Work, filepath.Join(bundle, "rootfs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := spec.Default()
	s.Root.Readonly = false
	s.Process.Terminal = false
	s.Process.Args = args
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return bundle, o
}

// TestRunOverlay runs a container whose root is an overlay of layers: the
// process sees the merged tree, its writes land in the upper dir, and
// the overlay never shows on the host, during or after.
func TestRunOverlay(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	script := "cat /etc/msg /top; ls /; echo written > /new; grep -c ' / / .* - overlay ' /proc/self/mountinfo"
	bundle, o := overlayBundle(t, dir, []string{"/bin/busybox", "sh", "-c", script})
	out, err := os.Create(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()

	r := New(filepath.Join(dir, "state"), nil)
	id := "overlay-test-" + strconv.Itoa(os.Getpid())
	es, err := r.Run(id, RunOpts{CreateOpts: CreateOpts{
		Bundle:  bundle,
		Overlay: o,
		Stdio:   Stdio{Stdin: devnull, Stdout: out, Stderr: out},
	}})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	got, _ := os.ReadFile(out.Name())
	if es.Code != 0 || es.Signal != "" {
		t.Fatalf("container exited %v; output:\n%s", es, got)
	}

	t.Logf("output:\n%s", got)
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	if len(lines) < 3 || lines[0] != "mid" || lines[1] != "top" || lines[len(lines)-1] != "1" {
		t.Errorf("output:\n%s\nwant mid, top, the listing, 1 (one overlay at /)", got)
	} else {
		names := lines[2 : len(lines)-1]
		for _, name := range []string{"bin", "etc", "top", "proc", "dev", "sys"} {
			if !slices.Contains(names, name) {
				t.Errorf("ls / has no %s: %q", name, names)
			}
		}
		if slices.Contains(names, "gone") {
			t.Errorf("ls / shows gone, which the mid layer whites out: %q", names)
		}
	}
	if b, err := os.ReadFile(filepath.Join(o.Upper, "new")); err != nil || string(b) != "written\n" {
		t.Errorf("upper/new = %q, %v: the container's write did not land in the upper dir", b, err)
	}
	if _, err := os.Stat(filepath.Join(o.Lower[0], "new")); err == nil {
		t.Error("the container's write landed in a layer")
	}

	// Run deleted the container; the overlay was only ever in its mount
	// namespace.
	if _, err := os.Stat(filepath.Join(r.Root, id)); !os.IsNotExist(err) {
		t.Errorf("state dir after run: %v", err)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(mi)) {
		if strings.Contains(line, o.Upper) || strings.Contains(line, dir) {
			t.Errorf("a mount on the host after delete: %s", line)
		}
	}
}

// TestCreateOverlayNeedsMountNS: without a mount namespace of its own the
// overlay would be mounted on the host; create refuses, and leaves
// nothing behind.
func TestCreateOverlayNeedsMountNS(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	bundle, o := overlayBundle(t, dir, []string{"/bin/busybox", "true"})
	r := New(filepath.Join(dir, "state"), nil)
	id := "overlay-nomnt-" + strconv.Itoa(os.Getpid())

	// A bad overlay is refused before anything starts.
	bad := *o
	bad.Work = ""
	if err := r.Create(id, CreateOpts{Bundle: bundle, Overlay: &bad}); err == nil || !strings.Contains(err.Error(), "give both or neither") {
		r.Delete(id, true)
		t.Errorf("create with upper and no work: %v", err)
	}

	s, err := spec.Load(bundle)
	if err != nil {
		t.Fatal(err)
	}
	s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(ns specs.LinuxNamespace) bool { return ns.Type == specs.MountNamespace })
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	err = r.Create(id, CreateOpts{Bundle: bundle, Overlay: o})
	if err == nil {
		r.Delete(id, true)
		t.Fatal("create with an overlay and no mount namespace succeeded")
	}
	if !strings.Contains(err.Error(), "mount namespace") {
		t.Errorf("error %q does not say why", err)
	}
	if _, err := os.Stat(filepath.Join(r.Root, id)); !os.IsNotExist(err) {
		t.Errorf("state dir after a refused create: %v", err)
	}
}
