package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minirun/minirun/internal/testenv"
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
	if _, err := exec.LookPath("runc"); err != nil {
		testenv.SkipOrFail(b, "runc is not installed: podman is run with --runtime runc")
	}
	bi := newBenchImage(b, "net")
	states, store, ref, podman, pargs := bi.states, bi.store, bi.ref, bi.podman, bi.pargs
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
	mb, mn, mp := medianMS(ways[0].times), medianMS(ways[1].times), medianMS(ways[2].times)
	b.ReportMetric(mb, "minirun-bridge-ms")
	b.ReportMetric(mn, "minirun-none-ms")
	b.ReportMetric(mp, "podman-ms")
	b.ReportMetric(mb/mp, "x-podman")
	b.ReportMetric(mn/mp, "none-x-podman")
	b.ReportMetric(0, "ns/op")
	fmt.Fprintf(os.Stderr, "run --rm IMAGE true, %d runs each: minirun on the bridge %.1f ms, minirun --network none %.1f ms (the bridge costs %.1f ms), podman on its bridge %.1f ms; minirun's bridge run is %.3fx podman's\n",
		b.N, mb, mn, mb-mn, mp, mb/mp)
}
