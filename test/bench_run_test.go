package test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/testenv"
	tr "github.com/minirun/minirun/internal/testregistry"
	"github.com/minirun/minirun/runtime/spec"
)

// BenchmarkRunImage times `minirun run --rm IMAGE true` (image in the
// store, no network namespace beyond lo) against `runc run` of a bundle
// and `podman run --rm --network none` of the same image, interleaved, and
// reports the medians, their ratios and minirun run's peak RSS.
func BenchmarkRunImage(b *testing.B) {
	testenv.RequireRoot(b)
	runc, err := exec.LookPath("runc")
	if err != nil {
		testenv.SkipOrFail(b, "runc is not installed: nothing to compare with")
	}
	podman, err := exec.LookPath("podman")
	if err != nil {
		testenv.SkipOrFail(b, "podman is not installed: nothing to compare with (make bench installs it)")
	}
	dir, err := os.MkdirTemp("", "minirun-bench-run-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	states := filepath.Join(dir, "state")
	if err := os.Mkdir(states, 0o700); err != nil {
		b.Fatal(err)
	}
	if err := unix.Mount("tmpfs", states, "tmpfs", 0, "size=64m"); err != nil {
		b.Fatalf("mount tmpfs for state: %v", err)
	}
	b.Cleanup(func() { unix.Unmount(states, unix.MNT_DETACH) })

	// The image: pushed to a registry, pulled by minirun, saved and
	// loaded into podman's store.
	reg := tr.Start(b, tr.Options{})
	ref := reg.Push(b, "bench:run", tr.Busybox(b, tr.BuildOptions{}).Image)
	store := filepath.Join(dir, "store")
	proot := filepath.Join(dir, "podman")
	prun, err := os.MkdirTemp("/run", "minirun-bench-")
	if err != nil {
		b.Fatal(err)
	}
	pargs := func(args ...string) []string {
		return append([]string{"--root", proot, "--runroot", prun, "--storage-driver", "overlay", "--cgroup-manager", "cgroupfs"}, args...)
	}
	b.Cleanup(func() {
		exec.Command(podman, pargs("system", "reset", "-f")...).Run()
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
	must(runtimePath, "--store", store, "pull", "-q", ref)
	archive := filepath.Join(dir, "image.tar")
	must(runtimePath, "--store", store, "save", "-o", archive, ref)
	must(podman, pargs("load", "-q", "-i", archive)...)

	s := spec.Default()
	s.Root.Path = rootfsPath
	s.Process.Terminal = false
	s.Process.Args = []string{"/bin/true"}
	data, _ := json.Marshal(s)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		b.Fatal(err)
	}

	var peak int64
	ways := []struct {
		name  string
		cmd   func(i int) *exec.Cmd
		times []time.Duration
	}{
		{name: "minirun", cmd: func(int) *exec.Cmd {
			return exec.Command(runtimePath, "--root", filepath.Join(states, "minirun"), "--store", store, "run", "--rm", "--network", "none", "--pull", "never", ref, "true")
		}},
		{name: "runc", cmd: func(i int) *exec.Cmd {
			return exec.Command(runc, "--root", filepath.Join(states, "runc"), "run", "--bundle", dir, "bench-"+strconv.Itoa(i))
		}},
		{name: "podman", cmd: func(int) *exec.Cmd {
			// runc, not crun: crun refuses hybrid cgroup hosts. The ulimits
			// stay within what this process may set (podman asks for more).
			return exec.Command(podman, pargs("--runtime", "runc", "run", "--rm", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096", ref, "true")...)
		}},
	}
	run := func(w int, i int) time.Duration {
		cmd := ways[w].cmd(i)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		d := time.Since(start)
		if err != nil {
			b.Fatalf("%s: %v: %s", ways[w].name, err, out)
		}
		if w == 0 {
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > peak {
				peak = ru.Maxrss
			}
		}
		return d
	}
	for w := range ways { // untimed: page cache, first cgroups
		run(w, -1)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range ways {
			w := (i + j) % len(ways)
			ways[w].times = append(ways[w].times, run(w, i))
		}
	}
	b.StopTimer()
	med := func(ts []time.Duration) float64 {
		s := append([]time.Duration(nil), ts...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return float64(s[len(s)/2]) / float64(time.Millisecond)
	}
	mm, mr, mp := med(ways[0].times), med(ways[1].times), med(ways[2].times)
	b.ReportMetric(mm, "minirun-ms")
	b.ReportMetric(mr, "runc-ms")
	b.ReportMetric(mp, "podman-ms")
	b.ReportMetric(mm/mr, "x-runc")
	b.ReportMetric(mm/mp, "x-podman")
	b.ReportMetric(float64(peak), "peak-rss-KiB")
	b.ReportMetric(0, "ns/op")
	fmt.Fprintf(os.Stderr, "run --rm IMAGE true, %d runs each: minirun %.1f ms, runc (bundle) %.1f ms, podman %.1f ms; minirun is %.2fx runc and %.3fx podman; minirun run's peak RSS %d KiB\n",
		b.N, mm, mr, mp, mm/mr, mm/mp, peak)
}
