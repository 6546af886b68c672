package test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/testenv"
	"github.com/minirun/minirun/runtime/spec"
)

// BenchmarkRunTrue times `run` of a bundle whose process is /bin/true,
// minirun and runc one after the other on the same bundle, so that both see
// the same machine load, and reports both medians and their ratio. The
// state dirs of both live on one private tmpfs, as /run is on a normal
// host. Run it with `make bench`.
func BenchmarkRunTrue(b *testing.B) {
	testenv.RequireRoot(b)
	runc, err := exec.LookPath("runc")
	if err != nil {
		testenv.SkipOrFail(b, "runc is not installed: nothing to compare with")
	}
	dir := b.TempDir()
	states := filepath.Join(dir, "state")
	if err := os.Mkdir(states, 0o700); err != nil {
		b.Fatal(err)
	}
	if err := unix.Mount("tmpfs", states, "tmpfs", 0, "size=64m"); err != nil {
		b.Fatalf("mount tmpfs for state: %v", err)
	}
	b.Cleanup(func() { unix.Unmount(states, unix.MNT_DETACH) })

	s := spec.Default()
	s.Root.Path = rootfsPath
	s.Process.Terminal = false
	s.Process.Args = []string{"/bin/true"}
	data, err := json.Marshal(s)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		b.Fatal(err)
	}

	runners := []struct {
		name, bin string
		times     []time.Duration
	}{{name: "minirun", bin: runtimePath}, {name: "runc", bin: runc}}
	run := func(bin, root string, i int) time.Duration {
		id := "bench-" + strconv.Itoa(i)
		cmd := exec.Command(bin, "--root", root, "run", "--bundle", dir, id)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		d := time.Since(start)
		if err != nil {
			b.Fatalf("%s run: %v: %s", bin, err, out)
		}
		return d
	}
	// One untimed run each: page cache, first cgroup creation.
	for _, r := range runners {
		run(r.bin, filepath.Join(states, r.name), -1)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range runners {
			r := &runners[j]
			r.times = append(r.times, run(r.bin, filepath.Join(states, r.name), i))
		}
	}
	b.StopTimer()
	med := func(ts []time.Duration) time.Duration {
		s := append([]time.Duration(nil), ts...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return s[len(s)/2]
	}
	mm, mr := med(runners[0].times), med(runners[1].times)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(mm), "minirun-ms")
	b.ReportMetric(ms(mr), "runc-ms")
	b.ReportMetric(ms(mm)/ms(mr), "ratio")
	b.ReportMetric(0, "ns/op")
	fmt.Fprintf(os.Stderr, "run of /bin/true, %d runs each, state on tmpfs: minirun median %.1f ms, runc median %.1f ms, ratio %.2f\n",
		b.N, ms(mm), ms(mr), ms(mm)/ms(mr))
}
