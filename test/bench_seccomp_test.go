package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minirun/minirun/internal/testenv"
)

// BenchmarkSeccomp measures what the default seccomp profile costs, against
// --security-opt seccomp=unconfined, the two interleaved:
//
//   - startup: `run --rm --network none IMAGE true`; the difference of the
//     medians is what compiling and installing the filter adds to a
//     container's start.
//   - getpid: the probe's loop of raw getpid calls, timed inside the
//     container; the difference per call is the filter's run on every
//     system call (getpid is about the cheapest call there is, so this is
//     the filter's cost alone).
func BenchmarkSeccomp(b *testing.B) {
	testenv.RequireRoot(b)
	bi := newBenchImage(b, "seccomp")
	root := filepath.Join(bi.states, "minirun")
	unconfined := []string{"--security-opt", "seccomp=unconfined"}
	run := func(extra []string, args ...string) (time.Duration, string) {
		full := append([]string{"--root", root, "--store", bi.store, "run", "--rm", "--network", "none", "--pull", "never"}, extra...)
		cmd := exec.Command(runtimePath, append(full, args...)...)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		d := time.Since(start)
		if err != nil {
			b.Fatalf("%v: %v: %s", cmd.Args, err, out)
		}
		return d, string(out)
	}

	b.Run("startup", func(b *testing.B) {
		var filtered, plain, diffs []time.Duration
		run(nil, bi.ref, "true") // untimed: page cache, first cgroups
		run(unconfined, bi.ref, "true")
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			// Alternate which goes first, so that neither always
			// follows the other's cleanup.
			var f, p time.Duration
			if i%2 == 0 {
				f, _ = run(nil, bi.ref, "true")
				p, _ = run(unconfined, bi.ref, "true")
			} else {
				p, _ = run(unconfined, bi.ref, "true")
				f, _ = run(nil, bi.ref, "true")
			}
			filtered, plain, diffs = append(filtered, f), append(plain, p), append(diffs, f-p)
		}
		b.StopTimer()
		mf, mp, md := medianMS(filtered), medianMS(plain), medianMS(diffs)
		b.ReportMetric(mf, "default-ms")
		b.ReportMetric(mp, "unconfined-ms")
		b.ReportMetric(mf-mp, "cost-ms")
		b.ReportMetric(0, "ns/op")
		// The difference of the medians is the estimate; the paired
		// differences' median swings with which run of a pair goes
		// first, and is printed to show the noise. The compile part
		// alone is BenchmarkSeccompCompileDefault in runtime/spec.
		fmt.Fprintf(os.Stderr, "run --rm IMAGE true, %d runs each: default profile %.2f ms, unconfined %.2f ms: the filter costs %.2f ms (median of paired differences %.2f ms)\n",
			b.N, mf, mp, mf-mp, md)
	})

	b.Run("getpid", func(b *testing.B) {
		const calls = 2000000
		probe := []string{"-v", filepath.Join(rootfsPath, "probe") + ":/probe:ro", "--entrypoint", "/probe"}
		loop := func(extra []string) float64 {
			_, out := run(append(slices.Clone(extra), probe...), bi.ref, "syscall", "getpid-loop", strconv.Itoa(calls))
			// "N calls in T ns: X ns/call"
			f := strings.Fields(out)
			if len(f) != 7 || f[6] != "ns/call" {
				b.Fatalf("getpid-loop printed %q", out)
			}
			v, err := strconv.ParseFloat(f[5], 64)
			if err != nil {
				b.Fatalf("getpid-loop printed %q: %v", out, err)
			}
			return v
		}
		var filtered, plain []float64
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			filtered = append(filtered, loop(nil))
			plain = append(plain, loop(unconfined))
		}
		b.StopTimer()
		median := func(v []float64) float64 {
			s := slices.Clone(v)
			slices.Sort(s)
			return s[len(s)/2]
		}
		mf, mp := median(filtered), median(plain)
		b.ReportMetric(mf, "default-ns/getpid")
		b.ReportMetric(mp, "unconfined-ns/getpid")
		b.ReportMetric(mf-mp, "filter-ns/call")
		b.ReportMetric(0, "ns/op")
		fmt.Fprintf(os.Stderr, "getpid, %d calls per run, %d runs each: %.1f ns with the default profile, %.1f ns unconfined: the filter adds %.1f ns per call\n",
			calls, b.N, mf, mp, mf-mp)
	})
}
