package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/testenv"
	tr "github.com/minirun/minirun/internal/testregistry"
)

// BenchmarkRunNetwork times `minirun run --rm IMAGE true` on the default
// bridge network against the same with --network none (what the bridge
// costs: a lease, a veth, rules, and their release) and against
// `podman run --rm IMAGE true` on podman's default network (netavark's
// bridge podman0), interleaved, and reports the medians and the ratios to
// podman. Like the whole suite it runs in the suite's throwaway network
// namespace, so both bridges live there.
func BenchmarkRunNetwork(b *testing.B) {
	testenv.RequireRoot(b)
	if !inSuiteNetns {
		b.Fatalf("not in the suite's network namespace (%s unset): refusing to make bridges here", netnsEnv)
	}
	podman, err := exec.LookPath("podman")
	if err != nil {
		testenv.SkipOrFail(b, "podman is not installed: nothing to compare with (make bench installs it)")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		testenv.SkipOrFail(b, "runc is not installed: podman is run with --runtime runc")
	}
	dir, err := os.MkdirTemp("", "minirun-bench-net-")
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

	reg := tr.Start(b, tr.Options{})
	ref := reg.Push(b, "bench:net", tr.Busybox(b, tr.BuildOptions{}).Image)
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
	b.Cleanup(func() {
		// What the bridge runs left: nothing, once each run has returned.
		if f := leaseFiles(filepath.Join(store)); len(f) > 0 {
			b.Errorf("leases left after the runs: %v", f)
		}
	})

	minirun := func(extra ...string) func() *exec.Cmd {
		return func() *exec.Cmd {
			args := append([]string{"--root", filepath.Join(states, "minirun"), "--store", store, "run", "--rm", "--pull", "never"}, extra...)
			return exec.Command(runtimePath, append(args, ref, "true")...)
		}
	}
	ways := []struct {
		name  string
		cmd   func() *exec.Cmd
		times []time.Duration
	}{
		{name: "minirun-bridge", cmd: minirun()},
		{name: "minirun-none", cmd: minirun("--network", "none")},
		{name: "podman", cmd: func() *exec.Cmd {
			// runc, not crun: crun refuses hybrid cgroup hosts. The ulimits
			// stay within what this process may set (podman asks for more).
			// No --network: podman's default, its bridge.
			return exec.Command(podman, pargs("--runtime", "runc", "run", "--rm", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096", ref, "true")...)
		}},
	}
	run := func(w int) time.Duration {
		cmd := ways[w].cmd()
		start := time.Now()
		out, err := cmd.CombinedOutput()
		d := time.Since(start)
		if err != nil {
			if ways[w].name == "podman" {
				testenv.SkipOrFail(b, fmt.Sprintf("podman run on its default network fails in the suite's network namespace: %v: %s", err, strings.TrimSpace(string(out))))
			}
			b.Fatalf("%s: %v: %s", ways[w].name, err, out)
		}
		return d
	}
	for w := range ways { // untimed: page cache, first cgroups, the bridges
		run(w)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range ways {
			w := (i + j) % len(ways)
			ways[w].times = append(ways[w].times, run(w))
		}
	}
	b.StopTimer()
	med := func(ts []time.Duration) float64 {
		s := append([]time.Duration(nil), ts...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return float64(s[len(s)/2]) / float64(time.Millisecond)
	}
	mb, mn, mp := med(ways[0].times), med(ways[1].times), med(ways[2].times)
	b.ReportMetric(mb, "minirun-bridge-ms")
	b.ReportMetric(mn, "minirun-none-ms")
	b.ReportMetric(mp, "podman-ms")
	b.ReportMetric(mb/mp, "x-podman")
	b.ReportMetric(mn/mp, "none-x-podman")
	b.ReportMetric(0, "ns/op")
	fmt.Fprintf(os.Stderr, "run --rm IMAGE true, %d runs each: minirun on the bridge %.1f ms, minirun --network none %.1f ms (the bridge costs %.1f ms), podman on its bridge %.1f ms; minirun's bridge run is %.3fx podman's\n",
		b.N, mb, mn, mb-mn, mp, mb/mp)
}
