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

// BenchmarkPull times pulling a ~150 MiB, 5-layer image from a local
// registry into an empty store, unpacking included, three ways, one after
// the other in each round so that all see the same machine state:
//
//	minirun pull                     (download, verify, unpack: one pass)
//	skopeo copy + umoci unpack       (download to a layout, then unpack)
//	podman pull                      (containers/storage, overlay driver)
//
// on the disk (the directory of TMPDIR) and on a tmpfs, and reports the
// medians and minirun's throughput relative to podman's. The image is
// built once and cached in MINIRUN_BENCH_CACHE (default: TMPDIR).
func BenchmarkPull(b *testing.B) {
	testenv.RequireRoot(b)
	for _, tool := range []string{"skopeo", "umoci", "podman"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.SkipOrFail(b, tool+" is not installed: nothing to compare with (make bench installs it)")
		}
	}
	cache := os.Getenv("MINIRUN_BENCH_CACHE")
	if cache == "" {
		cache = os.TempDir()
	}
	img := tr.BenchImage(b, cache)
	reg := tr.Start(b, tr.Options{})
	ref := reg.Push(b, "bench:v1", img.Image)
	var size int64
	for _, l := range img.Layers {
		size += l.Size
	}

	for _, where := range []string{"disk", "tmpfs"} {
		b.Run(where, func(b *testing.B) {
			dir, err := os.MkdirTemp("", "minirun-bench-pull-")
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { os.RemoveAll(dir) })
			if where == "tmpfs" {
				if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=2g"); err != nil {
					b.Fatalf("mount tmpfs: %v", err)
				}
				b.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
			}
			benchPull(b, dir, ref, size)
		})
	}
}

func benchPull(b *testing.B, dir, ref string, size int64) {
	sh := func(name string, args ...string) {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			b.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	clean := func(paths ...string) {
		for _, p := range paths {
			if err := os.RemoveAll(p); err != nil {
				b.Fatal(err)
			}
		}
	}
	store := filepath.Join(dir, "minirun")
	layout, bundle := filepath.Join(dir, "layout"), filepath.Join(dir, "bundle")
	proot := filepath.Join(dir, "podman")
	// podman refuses a runroot (its lock files) of more than 50 bytes.
	prun, err := os.MkdirTemp("/run", "minirun-bench-")
	if err != nil {
		b.Fatal(err)
	}
	podman := func(args ...string) []string {
		return append([]string{"--root", proot, "--runroot", prun, "--storage-driver", "overlay"}, args...)
	}
	ways := []struct {
		name  string
		pull  func()
		clean func()
		times []time.Duration
	}{
		{name: "minirun", pull: func() { sh(runtimePath, "--store", store, "pull", "-q", ref) }, clean: func() { clean(store) }},
		{name: "skopeo+umoci", pull: func() {
			sh("skopeo", "--insecure-policy", "copy", "-q", "--src-tls-verify=false", "docker://"+ref, "oci:"+layout+":bench")
			sh("umoci", "unpack", "--image", layout+":bench", bundle)
		}, clean: func() { clean(layout, bundle) }},
		{name: "podman", pull: func() { sh("podman", podman("pull", "-q", "--tls-verify=false", ref)...) }, clean: func() {
			// podman's overlay driver leaves its storage mounted.
			exec.Command("podman", podman("system", "reset", "-f")...).Run()
			for _, m := range mountsUnder(proot) {
				unix.Unmount(m, unix.MNT_DETACH)
			}
			clean(proot, prun)
		}},
	}
	b.Cleanup(func() {
		for _, w := range ways {
			w.clean()
		}
	})
	// One untimed round: the registry's blobs in the page cache for all.
	for _, w := range ways {
		w.pull()
		w.clean()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range ways {
			w := &ways[(i+j)%len(ways)] // rotate who goes first
			unix.Sync()
			start := time.Now()
			w.pull()
			w.times = append(w.times, time.Since(start))
			w.clean()
		}
	}
	b.StopTimer()
	med := func(ts []time.Duration) float64 {
		s := append([]time.Duration(nil), ts...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return s[len(s)/2].Seconds()
	}
	mb := float64(size) / 1e6
	var line []string
	for _, w := range ways {
		m := med(w.times)
		b.ReportMetric(m*1000, w.name+"-ms")
		line = append(line, fmt.Sprintf("%s %.2f s (%.1f MB/s)", w.name, m, mb/m))
	}
	ratio := med(ways[2].times) / med(ways[0].times)
	b.ReportMetric(ratio, "x-podman-throughput")
	b.ReportMetric(med(ways[1].times)/med(ways[0].times), "x-skopeo+umoci-throughput")
	b.ReportMetric(0, "ns/op")
	fmt.Fprintf(os.Stderr, "pull of %.0f MB (compressed) in 5 layers, %s, %d rounds, medians: %s; minirun's throughput is %.2fx podman's\n",
		mb, filepath.Base(b.Name()), b.N, strings.Join(line, ", "), ratio)
}
