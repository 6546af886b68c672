package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/testenv"
	tr "github.com/minirun/minirun/internal/testregistry"
)

// benchImage is what the run benchmarks share: a busybox image in a fresh
// minirun store and in a fresh podman store, and a runtime state root on
// tmpfs, so that state writes time the runtimes and not the disk.
type benchImage struct {
	dir    string // the benchmark's directory
	states string // tmpfs: one --root per runtime below it
	store  string // minirun's store, the image pulled
	ref    string
	podman string
	// pargs prefixes podman's arguments with its private store.
	pargs func(args ...string) []string
}

func newBenchImage(b *testing.B, tag string) *benchImage {
	b.Helper()
	podman, err := exec.LookPath("podman")
	if err != nil {
		testenv.SkipOrFail(b, "podman is not installed: nothing to compare with (make bench installs it)")
	}
	dir, err := os.MkdirTemp("", "minirun-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	bi := &benchImage{dir: dir, states: filepath.Join(dir, "state"), store: filepath.Join(dir, "store"), podman: podman}
	if err := os.Mkdir(bi.states, 0o700); err != nil {
		b.Fatal(err)
	}
	if err := unix.Mount("tmpfs", bi.states, "tmpfs", 0, "size=64m"); err != nil {
		b.Fatalf("mount tmpfs for state: %v", err)
	}
	b.Cleanup(func() { unix.Unmount(bi.states, unix.MNT_DETACH) })

	// The image: pushed to a registry, pulled by minirun, saved and
	// loaded into podman's store.
	reg := tr.Start(b, tr.Options{})
	bi.ref = reg.Push(b, "bench:"+tag, tr.Busybox(b, tr.BuildOptions{}).Image)
	proot := filepath.Join(dir, "podman")
	prun, err := os.MkdirTemp("/run", "minirun-bench-")
	if err != nil {
		b.Fatal(err)
	}
	bi.pargs = func(args ...string) []string {
		return append([]string{"--root", proot, "--runroot", prun, "--storage-driver", "overlay", "--cgroup-manager", "cgroupfs"}, args...)
	}
	b.Cleanup(func() {
		exec.Command(podman, bi.pargs("system", "reset", "-f")...).Run()
		for _, m := range mountsUnder(proot) {
			unix.Unmount(m, unix.MNT_DETACH)
		}
		os.RemoveAll(prun)
	})
	must := func(name string, args ...string) {
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			b.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	must(runtimePath, "--store", bi.store, "pull", "-q", bi.ref)
	archive := filepath.Join(dir, "image.tar")
	must(runtimePath, "--store", bi.store, "save", "-o", archive, bi.ref)
	must(podman, bi.pargs("load", "-q", "-i", archive)...)
	return bi
}

// medianMS is the median of ts in milliseconds.
func medianMS(ts []time.Duration) float64 {
	s := append([]time.Duration(nil), ts...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[len(s)/2]) / float64(time.Millisecond)
}
