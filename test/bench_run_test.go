package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

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
	bi := newBenchImage(b, "run")
	dir, states, store, ref, podman, pargs := bi.dir, bi.states, bi.store, bi.ref, bi.podman, bi.pargs

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
	mm, mr, mp := medianMS(ways[0].times), medianMS(ways[1].times), medianMS(ways[2].times)
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

// BenchmarkRunPhases times `minirun run --rm IMAGE true` plain and with
// --timing=json, interleaved, and reports the median of each phase that
// --timing measures (resolve, rootfs, cgroup, clone, ... teardown). Plain
// against timed is the cost of the explain machinery when on; off, it is
// one nil check per step, which the plain median shows against a build
// without it.
func BenchmarkRunPhases(b *testing.B) {
	testenv.RequireRoot(b)
	dir := b.TempDir()
	store := filepath.Join(dir, "store")
	reg := tr.Start(b, tr.Options{})
	ref := reg.Push(b, "bench:phases", tr.Busybox(b, tr.BuildOptions{}).Image)
	if out, err := exec.Command(runtimePath, "--root", filepath.Join(dir, "state"), "--store", store, "pull", "-q", ref).CombinedOutput(); err != nil {
		b.Fatalf("pull: %v: %s", err, out)
	}
	run := func(extra ...string) (time.Duration, []byte) {
		args := append([]string{"--root", filepath.Join(dir, "state"), "--store", store, "run", "--rm", "--network", "none", "--pull", "never"}, extra...)
		cmd := exec.Command(runtimePath, append(args, ref, "true")...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("run %v: %v: %s", extra, err, stderr.Bytes())
		}
		return time.Since(start), stderr.Bytes()
	}
	run()
	var plain, timed []time.Duration
	phases := map[string][]time.Duration{}
	var order []string
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, _ := run()
		plain = append(plain, d)
		d, out := run("--timing=json")
		timed = append(timed, d)
		for _, line := range bytes.Split(out, []byte("\n")) {
			var row struct {
				Timing string  `json:"timing"`
				MS     float64 `json:"ms"`
			}
			if json.Unmarshal(line, &row) != nil || row.Timing == "" {
				continue
			}
			if _, ok := phases[row.Timing]; !ok {
				order = append(order, row.Timing)
			}
			phases[row.Timing] = append(phases[row.Timing], time.Duration(row.MS*float64(time.Millisecond)))
		}
	}
	b.StopTimer()
	report := fmt.Sprintf("run --rm IMAGE true, %d runs each: plain %.1f ms, --timing %.1f ms; phases (median ms):", b.N, medianMS(plain), medianMS(timed))
	for _, p := range order {
		m := medianMS(phases[p])
		b.ReportMetric(m, p+"-ms")
		report += fmt.Sprintf(" %s %.2f", p, m)
	}
	b.ReportMetric(medianMS(plain), "plain-ms")
	b.ReportMetric(medianMS(timed), "timed-ms")
	b.ReportMetric(0, "ns/op")
	fmt.Fprintln(os.Stderr, report)
}
