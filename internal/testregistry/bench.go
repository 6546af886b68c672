package testregistry

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// benchVersion names the generator in the cache directory; change it
// whenever the generated content changes, so old caches are not reused.
const benchVersion = "v1"

// Size of BenchImage: five layers of 30 MiB of file content each.
const (
	BenchLayers     = 5
	BenchLayerBytes = 30 << 20
)

// benchLayerSpec shapes one layer like a part of a distribution's /usr:
// under root, files of which textShare are text (compressing about 3:1)
// and the rest binary-like (about 3:2), binaries with a versioned name and
// a ".so.N" symlink to it.
var benchLayerSpec = [BenchLayers]struct {
	root      string
	textShare float64
}{
	{"usr/lib/bench", 0.2},
	{"usr/share/doc/bench", 0.95},
	{"usr/share/locale/bench", 0.7},
	{"usr/lib/python3/bench", 0.85},
	{"opt/bench", 0.4},
}

// BenchImage builds (once) a ~150 MiB image of BenchLayers gzip layers, for
// pull and unpack benchmarks: generated, deterministic file trees with a
// realistic spread of sizes (mostly files of a few KiB, a tail up to
// 8 MiB), text and binary-like content, directories three deep and
// symlinks. It is kept as an OCI image layout in cacheDir (created if
// needed) and read from there by later calls, in this process or another;
// an empty cacheDir builds into t.TempDir(). The image is read lazily from
// the layout; its Layers carry digests but no file lists, and Tree is nil.
func BenchImage(t testing.TB, cacheDir string) *Image {
	t.Helper()
	if cacheDir == "" {
		cacheDir = t.TempDir()
	}
	platform := HostPlatform()
	dir := filepath.Join(cacheDir, fmt.Sprintf("testregistry-bench-%s-%s", benchVersion, platform.Architecture))
	if _, err := os.Stat(filepath.Join(dir, "index.json")); errors.Is(err, fs.ErrNotExist) {
		buildBench(t, cacheDir, dir, platform)
	} else if err != nil {
		t.Fatal(err)
	}
	return loadLayoutImage(t, dir, platform)
}

// buildBench writes the bench image as an OCI layout in a temporary
// directory beside dir and renames it into place, so that a concurrent
// build (another test binary) never sees half a layout; the loser of the
// race drops its copy.
func buildBench(t testing.TB, cacheDir, dir string, platform v1.Platform) {
	t.Helper()
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(cacheDir, ".testregistry-bench-build-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for i := range BenchLayers {
		tarPath := filepath.Join(tmp, fmt.Sprintf("layer%d.tar", i+1))
		if err := writeBenchLayer(tarPath, i); err != nil {
			t.Fatalf("generate bench layer %d: %v", i+1, err)
		}
		layer, err := tarball.LayerFromFile(tarPath, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
		if err != nil {
			t.Fatalf("bench layer %d: %v", i+1, err)
		}
		img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
			Created: v1.Time{Time: ModTime}, CreatedBy: fmt.Sprintf("testregistry bench layer %d", i+1)}})
		if err != nil {
			t.Fatal(err)
		}
	}
	img = withConfig(t, img, v1.Config{
		Cmd:    []string{"/bin/true"},
		Labels: map[string]string{"org.minirun.test": "bench"},
	}, platform)

	out := filepath.Join(tmp, "layout")
	p, err := layout.Write(out, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithPlatform(platform)); err != nil {
		t.Fatalf("write bench image layout: %v", err)
	}
	if err := os.Rename(out, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "index.json")); serr != nil {
			t.Fatalf("move bench image into the cache: %v", err)
		}
	}
}

func loadLayoutImage(t testing.TB, dir string, platform v1.Platform) *Image {
	t.Helper()
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("read cached image %s: %v", dir, err)
	}
	m, err := idx.IndexManifest()
	if err != nil || len(m.Manifests) != 1 {
		t.Fatalf("read cached image %s: %v (%d manifests)", dir, err, len(m.Manifests))
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatalf("read cached image %s: %v", dir, err)
	}
	// Digests from the manifest and config: asking a layout's layer for
	// its diff ID would decompress it.
	manifest, err := img.Manifest()
	if err != nil {
		t.Fatalf("read cached image %s: %v", dir, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("read cached image %s: %v", dir, err)
	}
	if len(manifest.Layers) != len(cf.RootFS.DiffIDs) {
		t.Fatalf("cached image %s: %d layers, %d diff IDs", dir, len(manifest.Layers), len(cf.RootFS.DiffIDs))
	}
	im := &Image{Image: img, Platform: platform}
	for i, d := range manifest.Layers {
		im.Layers = append(im.Layers, Layer{Digest: d.Digest, DiffID: cf.RootFS.DiffIDs[i], MediaType: d.MediaType, Size: d.Size})
	}
	return im
}

// benchWords are what text files are made of.
var benchWords = []string{
	"the", "of", "and", "to", "in", "is", "for", "that", "with", "on",
	"container", "image", "layer", "runtime", "kernel", "namespace",
	"cgroup", "mount", "overlay", "process", "signal", "socket", "file",
	"directory", "permission", "capability", "seccomp", "filter", "network",
	"bridge", "route", "address", "registry", "manifest", "digest", "blob",
	"config", "platform", "architecture", "index", "reference", "tag",
	"return", "error", "value", "function", "struct", "package", "import",
	"if", "else", "for", "range", "def", "class", "self", "None", "True",
	"msgid", "msgstr", "translation", "license", "copyright", "version",
	"0", "1", "2", "42", "255", "1024", "=", "==", "(", ")", "{", "}", ":",
}

// benchNames make up directory and file names.
var benchNames = []string{
	"core", "util", "net", "io", "fmt", "text", "data", "crypto", "http",
	"xml", "json", "yaml", "zlib", "ssl", "gtk", "glib", "dbus", "udev",
	"systemd", "python", "perl", "locale", "man", "info", "doc", "share",
}

// writeBenchLayer generates layer i as a tar file, deterministically.
func writeBenchLayer(file string, i int) error {
	spec := benchLayerSpec[i]
	rng := rand.New(rand.NewPCG(0x6d696e6972756e, uint64(i)))
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	tw := tar.NewWriter(bw)

	dirs := map[string]bool{}
	mkdir := func(p string) error {
		var parts []string
		for d := p; d != "." && d != ""; d = path.Dir(d) {
			parts = append(parts, d)
		}
		for j := len(parts) - 1; j >= 0; j-- {
			if dirs[parts[j]] {
				continue
			}
			dirs[parts[j]] = true
			h := &tar.Header{Name: parts[j] + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: ModTime, Format: tar.FormatPAX}
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
		}
		return nil
	}

	var (
		written int64
		buf     []byte
		dir     string
	)
	for n := 0; written < BenchLayerBytes; n++ {
		// A new directory every few dozen files, up to three levels deep.
		if n%(16+rng.IntN(48)) == 0 || dir == "" {
			dir = spec.root
			for range 1 + rng.IntN(3) {
				dir += "/" + benchNames[rng.IntN(len(benchNames))]
			}
			if err := mkdir(dir); err != nil {
				return err
			}
		}
		size := benchSize(rng)
		if size > BenchLayerBytes-written {
			size = max(BenchLayerBytes-written, 1)
		}
		base := benchNames[rng.IntN(len(benchNames))]
		text := rng.Float64() < spec.textShare
		var name string
		mode := int64(0o644)
		if text {
			buf = benchText(rng, buf[:0], size)
			name = fmt.Sprintf("%s/%s-%d.txt", dir, base, n)
		} else {
			buf = benchBinary(rng, buf[:0], size)
			name = fmt.Sprintf("%s/lib%s-%d.so.%d.%d", dir, base, n, rng.IntN(4), rng.IntN(20))
			mode = 0o755
		}
		h := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(buf)), ModTime: ModTime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(buf); err != nil {
			return err
		}
		written += int64(len(buf))
		if !text {
			link := &tar.Header{Name: fmt.Sprintf("%s/lib%s-%d.so", dir, base, n), Typeflag: tar.TypeSymlink,
				Linkname: path.Base(name), Mode: 0o777, ModTime: ModTime, Format: tar.FormatPAX}
			if err := tw.WriteHeader(link); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// benchSize draws a file size: about half under 4 KiB, a third up to
// 32 KiB, and a tail of larger files up to 8 MiB, as in /usr.
func benchSize(rng *rand.Rand) int64 {
	between := func(lo, hi int64) int64 { return lo + rng.Int64N(hi-lo) }
	switch u := rng.Float64(); {
	case u < 0.55:
		return between(64, 4<<10)
	case u < 0.90:
		return between(4<<10, 32<<10)
	case u < 0.985:
		return between(32<<10, 256<<10)
	case u < 0.998:
		return between(256<<10, 2<<20)
	default:
		return between(2<<20, 8<<20)
	}
}

func benchText(rng *rand.Rand, b []byte, size int64) []byte {
	for int64(len(b)) < size {
		b = append(b, benchWords[rng.IntN(len(benchWords))]...)
		if rng.IntN(12) == 0 {
			b = append(b, '\n')
		} else {
			b = append(b, ' ')
		}
	}
	return b[:size]
}

// benchBinary mixes runs of zeros, random bytes and repeats of what came
// before, like code and data sections.
func benchBinary(rng *rand.Rand, b []byte, size int64) []byte {
	for int64(len(b)) < size {
		switch k := rng.IntN(10); {
		case k < 3:
			for range 16 + rng.IntN(496) {
				b = append(b, 0)
			}
		case k < 7 || len(b) < 4096:
			for range (64 + rng.IntN(2048)) / 8 {
				v := rng.Uint64()
				b = append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24), byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56))
			}
		default:
			n := 64 + rng.IntN(1024)
			from := rng.IntN(len(b) - n)
			b = append(b, b[from:from+n]...)
		}
	}
	return b[:size]
}
