package rootfs

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestLeakCheckSeesLeaks is the control for checkNoLeak: a mount made
// without Prepare's propagation step does reach the host.
func TestLeakCheckSeesLeaks(t *testing.T) {
	dir := hostDir(t)
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(filepath.Join(rootfs, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	rep := runHelper(t, helperConfig{Rootfs: rootfs, Control: true})
	if rep.Err != "" {
		t.Fatalf("%s: %s", rep.Stage, rep.Err)
	}
	l := leaked(t, dir)
	for _, p := range slices.Backward(l) {
		unix.Unmount(p, unix.MNT_DETACH)
	}
	if !slices.Equal(l, []string{filepath.Join(rootfs, "tmp")}) {
		t.Fatalf("leaked = %q; the host dir is not shared, so the leak checks prove nothing", l)
	}
}

// TestSymlinkEscape mounts through symlinks planted in the image that point
// out of the rootfs, absolute and relative: every mount must land inside.
func TestSymlinkEscape(t *testing.T) {
	dir := hostDir(t)
	rootfs := buildRootfs(t, dir)
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("bound\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Unique names, so that an escape onto the host's / would be seen.
	u := "mr-escape-" + filepath.Base(filepath.Dir(dir)) + filepath.Base(dir)
	links := map[string]string{
		"etc":       "/",                       // replaces etc
		"up":        "../../../../../../../..", // climbs past the root
		"abs":       "/../../../..",
		"deep/link": "../../../../../tmp",
		"dangle":    "/made/" + u,
		"loop":      "loop",
	}
	os.RemoveAll(filepath.Join(rootfs, "etc"))
	for name, target := range links {
		p := filepath.Join(rootfs, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	tmpfs := func(dest string) specs.Mount { return specs.Mount{Destination: dest, Type: "tmpfs", Source: "tmpfs"} }
	spec := &specs.Spec{Mounts: []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		tmpfs("/etc/" + u + "-1"),
		tmpfs("/up/" + u + "-2"),
		tmpfs("/abs/" + u + "-3"),
		tmpfs("/deep/link/" + u + "-4"),
		tmpfs("/dangle"),
		{Destination: "/etc/" + u + "-file", Type: "bind", Source: file, Options: []string{"bind", "ro"}},
	}}
	rep := runHelper(t, helperConfig{Rootfs: rootfs, Spec: spec, Read: []string{"/" + u + "-file"}})
	checkNoLeak(t, dir)
	if rep.Err != "" {
		t.Fatalf("%s: %s\nlog:\n%s", rep.Stage, rep.Err, strings.Join(rep.Log, "\n"))
	}
	for _, p := range []string{"/" + u + "-1", "/" + u + "-2", "/" + u + "-3", "/tmp/" + u + "-4", "/made/" + u, "/" + u + "-file"} {
		if findMount(rep.Mounts, p) == nil {
			t.Errorf("no mount at %s inside the container; mounts: %+v", p, rep.Mounts)
		}
		if _, err := os.Lstat(filepath.Join(rootfs, p)); err != nil {
			t.Errorf("%s not created inside the rootfs: %v", p, err)
		}
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s created on the host", p)
			os.RemoveAll(p)
		}
	}
	if got := rep.Read["/"+u+"-file"]; got.Data != "bound\n" {
		t.Errorf("bound file reads %+v", got)
	}

	// A symlink loop is an error, not a hang.
	spec.Mounts = []specs.Mount{tmpfs("/loop/x")}
	rep = runHelper(t, helperConfig{Rootfs: rootfs, Spec: spec})
	checkNoLeak(t, dir)
	if rep.Stage != "prepare" || !strings.Contains(rep.Err, "too many levels of symbolic links") {
		t.Errorf("mount through a symlink loop: %s: %s", rep.Stage, rep.Err)
	}
}

// TestProcThroughSymlink: a destination that only a symlink in the image
// leads into /proc is refused, like a plain one.
func TestProcThroughSymlink(t *testing.T) {
	dir := hostDir(t)
	rootfs := buildRootfs(t, dir)
	if err := os.Symlink("/proc", filepath.Join(rootfs, "myproc")); err != nil {
		t.Fatal(err)
	}
	spec := &specs.Spec{Mounts: []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/myproc/sys", Type: "bind", Source: dir, Options: []string{"rbind"}},
	}}
	rep := runHelper(t, helperConfig{Rootfs: rootfs, Spec: spec})
	checkNoLeak(t, dir)
	if rep.Stage != "prepare" || !strings.Contains(rep.Err, "resolves to /proc/sys") {
		t.Errorf("bind onto /myproc/sys: %s: %q, want an error from prepare", rep.Stage, rep.Err)
	}
}
