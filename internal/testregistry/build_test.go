package testregistry

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/minirun/minirun/internal/testenv"
)

var variants = []struct {
	name                string
	opts                BuildOptions
	manifest, layerType types.MediaType
}{
	{"oci-gzip", BuildOptions{Format: OCI, Compression: Gzip}, types.OCIManifestSchema1, types.OCILayer},
	{"oci-zstd", BuildOptions{Format: OCI, Compression: Zstd}, types.OCIManifestSchema1, types.OCILayerZStd},
	{"oci-uncompressed", BuildOptions{Format: OCI, Compression: Uncompressed}, types.OCIManifestSchema1, types.OCIUncompressedLayer},
	{"docker-gzip", BuildOptions{Format: Docker, Compression: Gzip}, types.DockerManifestSchema2, types.DockerLayer},
	{"docker-uncompressed", BuildOptions{Format: Docker, Compression: Uncompressed}, types.DockerManifestSchema2, types.DockerUncompressedLayer},
}

// entry is a File in a form short enough for a table.
type entry struct {
	path string
	mode fs.FileMode
	uid  int
	data string // content, or link target
}

func (e entry) String() string { return fmt.Sprintf("%s %v %d %q", e.path, e.mode, e.uid, e.data) }

func entries(files []File) []entry {
	var out []entry
	for _, f := range files {
		e := entry{path: f.Path, mode: f.Mode, uid: f.UID, data: string(f.Data)}
		if f.UID != f.GID {
			e.uid = -1 // no table row has uid != gid
		}
		if f.IsSymlink() {
			e.data = "-> " + f.Link
		}
		if f.Hardlink {
			e.data = "link " + f.Link + ": " + e.data
		}
		out = append(out, e)
	}
	return out
}

func TestMultiLayerTree(t *testing.T) {
	dir := fs.ModeDir | 0o755
	want := []entry{
		{"abs-symlink", fs.ModeSymlink | 0o777, 0, "-> /layer2"},
		{"deep", dir, 0, ""},
		{"deep/a", dir, 0, ""},
		{"deep/a/b", dir, 0, ""},
		{"deep/a/b/c", dir, 0, ""},
		{"deep/a/b/c/file", 0o444, 0, "deep"},
		{"empty", 0o644, 0, ""},
		{"hardlink", 0o644, 0, "link layer2: layer 2"},
		{"keep", dir, 0, ""},
		{"keep/a", 0o600, 0, "a from layer 4"},
		{"layer1", 0o644, 0, "layer 1"},
		{"layer2", 0o644, 0, "layer 2"},
		{"layer3", 0o644, 0, "layer 3"},
		{"layer4", 0o644, 0, "layer 4"},
		{"layer5", 0o644, 0, "layer 5"},
		{"opaque", dir, 0, ""},
		{"opaque/from4", 0o644, 0, "from layer 4"},
		{"opaque/upper", 0o644, 0, "from layer 3"},
		{"owned", 0o640, 1000, "owned by 1000:1000"},
		{"setuid", fs.ModeSetuid | 0o755, 0, "#!/bin/sh\n"},
		{"sticky", fs.ModeDir | fs.ModeSticky | 0o777, 0, ""},
		{"symlink", fs.ModeSymlink | 0o777, 0, "-> layer1"},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			im := MultiLayer(t, v.opts)
			got := entries(im.Tree())
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("tree:\n%s\nwant:\n%s", lines(got), lines(want))
			}
		})
	}
}

func lines(es []entry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintln(&b, "\t"+e.String())
	}
	return b.String()
}

// TestVariants checks media types, and that Layers describes the manifest
// and config it belongs to.
func TestVariants(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			im := MultiLayer(t, v.opts)
			checkImage(t, im.Image)
			m, err := im.Image.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			cf, err := im.Image.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if m.MediaType != v.manifest {
				t.Errorf("manifest media type %s, want %s", m.MediaType, v.manifest)
			}
			if len(m.Layers) != 5 || len(im.Layers) != 5 || len(cf.RootFS.DiffIDs) != 5 {
				t.Fatalf("%d layers in the manifest, %d described, %d diff IDs; want 5", len(m.Layers), len(im.Layers), len(cf.RootFS.DiffIDs))
			}
			for i, l := range im.Layers {
				d := m.Layers[i]
				if d.MediaType != v.layerType || l.MediaType != v.layerType || d.Digest != l.Digest ||
					d.Size != l.Size || cf.RootFS.DiffIDs[i] != l.DiffID {
					t.Errorf("layer %d: manifest %+v, diff ID %s; described %+v", i+1, d, cf.RootFS.DiffIDs[i], l)
				}
				if (v.opts.Compression == Uncompressed) != (l.Digest == l.DiffID) {
					t.Errorf("layer %d: digest %s, diff ID %s", i+1, l.Digest, l.DiffID)
				}
			}
			if p := HostPlatform(); cf.OS != p.OS || cf.Architecture != p.Architecture || cf.Variant != p.Variant {
				t.Errorf("config platform %s/%s/%s, want %s", cf.OS, cf.Architecture, cf.Variant, p)
			}
			// The same input builds the same image.
			if again := MultiLayer(t, v.opts); again.ManifestDigest(t) != im.ManifestDigest(t) {
				t.Errorf("rebuilt image has digest %s, first build %s", again.ManifestDigest(t), im.ManifestDigest(t))
			}
		})
	}
}

func TestBusybox(t *testing.T) {
	im := Busybox(t, BuildOptions{})
	cf, err := im.Image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.WorkingDir != "/srv/app" || cf.Config.Entrypoint[0] != "/bin/busybox" ||
		cf.Config.Labels["org.minirun.test"] != "busybox" {
		t.Errorf("config %+v", cf.Config)
	}
	tree := map[string]File{}
	for _, f := range im.Tree() {
		tree[f.Path] = f
	}
	if f := tree["bin/sh"]; f.Link != "/bin/busybox" {
		t.Errorf("bin/sh: %+v", f)
	}
	if f := tree["etc/passwd"]; string(f.Data) != BusyboxPasswd {
		t.Errorf("etc/passwd: %q", f.Data)
	}
	if f := tree["srv/app"]; !f.IsDir() || f.UID != 1000 || f.GID != 1000 {
		t.Errorf("srv/app: %+v", f)
	}
	if f := tree["tmp"]; f.Mode != fs.ModeDir|fs.ModeSticky|0o777 {
		t.Errorf("tmp: %v", f.Mode)
	}
}

func TestManyLayers(t *testing.T) {
	im := ManyLayers(t, 60, BuildOptions{})
	if len(im.Layers) != 60 || len(im.Tree()) != 60 {
		t.Fatalf("%d layers, %d files; want 60 and 60", len(im.Layers), len(im.Tree()))
	}
	if f := im.Tree()[59]; f.Path != "layer9" || string(f.Data) != "layer 9" { // sorted by name
		t.Errorf("last file %+v", f)
	}
}

func TestIndexes(t *testing.T) {
	host := HostPlatform()
	for _, format := range []Format{OCI, Docker} {
		ix := MultiPlatform(t, BuildOptions{Format: format})
		m, err := ix.Index.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Manifests) < 2 || len(m.Manifests) != len(ix.Images) {
			t.Fatalf("%d manifests, %d images", len(m.Manifests), len(ix.Images))
		}
		for i, d := range m.Manifests {
			if !d.Platform.Equals(ix.Images[i].Platform) || d.Digest != ix.Images[i].ManifestDigest(t) {
				t.Errorf("manifest %d: %+v, image for %s", i, d, ix.Images[i].Platform)
			}
		}
		im := ix.ForPlatform(host)
		if im == nil {
			t.Fatalf("no image for %s in %v", host, ix.Platforms())
		}
		var marker string
		for _, f := range im.Tree() {
			if f.Path == PlatformFile {
				marker = string(f.Data)
			}
		}
		if marker != host.String() || len(im.Layers) != 3 {
			t.Errorf("host image: %d layers, %s %q", len(im.Layers), PlatformFile, marker)
		}
	}
	foreign := ForeignIndex(t, BuildOptions{})
	if len(foreign.Images) != 2 || foreign.ForPlatform(host) != nil {
		t.Errorf("foreign index offers %v, host is %s", foreign.Platforms(), host)
	}
}

// TestTreeMatchesUmoci unpacks the images with umoci, an independent
// implementation of the OCI layer rules, and compares with Tree.
func TestTreeMatchesUmoci(t *testing.T) {
	testenv.RequireRoot(t) // umoci unpacks with the archive's owners
	umoci, err := exec.LookPath("umoci")
	if err != nil {
		testenv.SkipOrFail(t, "umoci is not installed: "+err.Error())
	}
	for _, tc := range []struct {
		name string
		im   *Image
	}{
		// umoci takes gzip and uncompressed OCI layers.
		{"multilayer-gzip", MultiLayer(t, BuildOptions{})},
		{"multilayer-uncompressed", MultiLayer(t, BuildOptions{Compression: Uncompressed})},
		{"busybox", Busybox(t, BuildOptions{})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p, err := layout.Write(filepath.Join(dir, "layout"), empty.Index)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.AppendImage(tc.im.Image, layout.WithAnnotations(map[string]string{
				"org.opencontainers.image.ref.name": "test"})); err != nil {
				t.Fatal(err)
			}
			rootfs := filepath.Join(dir, "rootfs")
			out, err := exec.Command(umoci, "raw", "unpack", "--image", filepath.Join(dir, "layout")+":test", rootfs).CombinedOutput()
			if err != nil {
				t.Fatalf("umoci raw unpack: %v\n%s", err, out)
			}
			got := readTree(t, rootfs)
			want := tc.im.Tree()
			if len(got) != len(want) {
				t.Errorf("umoci unpacked %d entries, Tree has %d", len(got), len(want))
			}
			for i := 0; i < len(got) || i < len(want); i++ {
				var g, w File
				if i < len(got) {
					g = got[i]
				}
				if i < len(want) {
					w = want[i]
				}
				// readTree sees a hardlink as a regular file;
				// checkHardlinks compares the inodes.
				if w.Hardlink {
					w.Hardlink, w.Link = false, ""
				}
				if g.Path != w.Path || g.Mode != w.Mode || g.UID != w.UID || g.GID != w.GID ||
					!bytes.Equal(g.Data, w.Data) || g.Link != w.Link {
					t.Errorf("umoci: %s %v %d:%d %q %q\n  Tree: %s %v %d:%d %q %q",
						g.Path, g.Mode, g.UID, g.GID, trim(g.Data), g.Link, w.Path, w.Mode, w.UID, w.GID, trim(w.Data), w.Link)
				}
			}
			checkHardlinks(t, rootfs, want)
		})
	}
}

func trim(b []byte) []byte { return b[:min(len(b), 32)] }

// readTree lists an unpacked root file system like Image.Tree.
func readTree(t *testing.T, root string) []File {
	t.Helper()
	var out []File
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		st := fi.Sys().(*syscall.Stat_t)
		f := File{Path: filepath.ToSlash(rel), Mode: fi.Mode(), UID: int(st.Uid), GID: int(st.Gid)}
		switch {
		case f.IsSymlink():
			f.Link, err = os.Readlink(p)
		case f.IsRegular():
			f.Data, err = os.ReadFile(p)
		}
		out = append(out, f)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func checkHardlinks(t *testing.T, root string, tree []File) {
	t.Helper()
	for _, f := range tree {
		if !f.Hardlink {
			continue
		}
		a, err1 := os.Stat(filepath.Join(root, f.Path))
		b, err2 := os.Stat(filepath.Join(root, f.Link))
		if err1 != nil || err2 != nil || !os.SameFile(a, b) {
			t.Errorf("%s is not a hardlink of %s (%v, %v)", f.Path, f.Link, err1, err2)
		}
	}
}

func TestBenchImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 150 MiB of layers")
	}
	cache := t.TempDir()
	start := time.Now()
	im := BenchImage(t, cache)
	built := time.Since(start)
	start = time.Now()
	again := BenchImage(t, cache)
	t.Logf("built in %v, read from the cache in %v", built, time.Since(start))
	if im.ManifestDigest(t) != again.ManifestDigest(t) {
		t.Errorf("cached image %s differs from the built one %s", again.ManifestDigest(t), im.ManifestDigest(t))
	}
	if len(im.Layers) != BenchLayers {
		t.Fatalf("%d layers, want %d", len(im.Layers), BenchLayers)
	}
	var compressed int64
	for _, l := range im.Layers {
		compressed += l.Size
	}
	t.Logf("%d layers, %d MiB compressed", len(im.Layers), compressed>>20)
	checkImage(t, im.Image)

	r := Start(t, Options{})
	start = time.Now()
	r.Push(t, "bench", im.Image)
	t.Logf("pushed in %v", time.Since(start))

	// Deterministic: a build elsewhere gives the same image.
	if other := BenchImage(t, ""); other.ManifestDigest(t) != im.ManifestDigest(t) {
		t.Errorf("second build has digest %s, first %s", other.ManifestDigest(t), im.ManifestDigest(t))
	}
}

// checkImage reads every blob of img and checks it against the digests of
// its manifest and config: the config, each compressed layer, and each
// layer's uncompressed tar against its diff ID.
func checkImage(t *testing.T, img v1.Image) {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if h, n, _ := v1.SHA256(bytes.NewReader(raw)); h != m.Config.Digest || n != m.Config.Size {
		t.Errorf("config is %s (%d bytes), manifest says %s (%d)", h, n, m.Config.Digest, m.Config.Size)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != len(m.Layers) || len(layers) != len(cf.RootFS.DiffIDs) {
		t.Fatalf("%d layers, %d in the manifest, %d diff IDs", len(layers), len(m.Layers), len(cf.RootFS.DiffIDs))
	}
	for i, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		h, n, err := v1.SHA256(rc)
		rc.Close()
		if err != nil || h != m.Layers[i].Digest || n != m.Layers[i].Size {
			t.Errorf("layer %d is %s (%d bytes, %v), manifest says %s (%d)", i+1, h, n, err, m.Layers[i].Digest, m.Layers[i].Size)
		}
		rc, err = l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		h, _, err = v1.SHA256(rc)
		rc.Close()
		if err != nil || h != cf.RootFS.DiffIDs[i] {
			t.Errorf("layer %d uncompressed is %s (%v), diff ID %s", i+1, h, err, cf.RootFS.DiffIDs[i])
		}
	}
}
