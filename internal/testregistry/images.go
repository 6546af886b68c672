package testregistry

import (
	"fmt"
	"io/fs"
	"os"
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/minirun/minirun/internal/testenv"
)

// BusyboxPath is where the host's static busybox is read from.
const BusyboxPath = "/bin/busybox"

// BusyboxApplets are the names Busybox links to /bin/busybox in /bin.
var BusyboxApplets = []string{
	"cat", "chmod", "chown", "cp", "date", "echo", "env", "false", "grep",
	"head", "hostname", "id", "kill", "ln", "ls", "mkdir", "mount", "mv",
	"nproc", "printf", "ps", "pwd", "readlink", "rm", "sh", "sleep", "stat",
	"sync", "tail", "test", "touch", "true", "umount", "uname", "wc", "whoami",
}

// The passwd and group files of Busybox: root, and a user app (1000:1000)
// who is also in group staff (50).
const (
	BusyboxPasswd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"
	BusyboxGroup  = "root:x:0:\nstaff:x:50:app\napp:x:1000:\n"
)

// BusyboxConfig is Busybox's image config. Running the image without
// arguments prints "hello from busybox"; arguments replace Cmd, so
// "sh -c ..." runs busybox's shell (busybox takes the applet as its first
// argument).
var BusyboxConfig = v1.Config{
	Entrypoint:   []string{"/bin/busybox"},
	Cmd:          []string{"echo", "hello from busybox"},
	Env:          []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "MINIRUN_TEST=busybox"},
	WorkingDir:   "/srv/app",
	Labels:       map[string]string{"org.minirun.test": "busybox", "org.minirun.test.version": "1"},
	ExposedPorts: map[string]struct{}{"8080/tcp": {}},
	StopSignal:   "SIGTERM",
}

// Busybox builds a small runnable image for the host's platform (its
// binary is the host's static busybox; a missing one skips the test, or
// fails it, see testenv.SkipOrFail). Two layers:
//
//  1. bin/busybox (0755) and bin/<applet> -> /bin/busybox for each of
//     BusyboxApplets; etc/passwd and etc/group (BusyboxPasswd,
//     BusyboxGroup); empty dev, proc, sys, run; root (0700), tmp (1777),
//     home/app (1000:1000).
//  2. srv/app (1000:1000, the working directory) with
//     srv/app/hello.txt "hello from the busybox image\n" (0644, 1000:1000).
//
// The config is BusyboxConfig.
func Busybox(t testing.TB, opts BuildOptions) *Image {
	t.Helper()
	return NewImage(t, BusyboxLayers(t), BusyboxConfig, opts)
}

// BusyboxLayers are Busybox's two layers, for images that put more on top
// of a runnable base.
func BusyboxLayers(t testing.TB) [][]File {
	t.Helper()
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		testenv.SkipOrFail(t, "a static busybox is needed to build a runnable image: "+err.Error())
	}
	base := []File{
		Dir("bin", 0o755),
		{Path: "bin/busybox", Mode: 0o755, Data: bin},
	}
	for _, a := range BusyboxApplets {
		base = append(base, Symlink("bin/"+a, "/bin/busybox"))
	}
	base = append(base,
		Dir("dev", 0o755),
		Dir("etc", 0o755),
		Reg("etc/group", BusyboxGroup, 0o644),
		Reg("etc/passwd", BusyboxPasswd, 0o644),
		Dir("home", 0o755),
		Dir("home/app", 0o755).Owned(1000, 1000),
		Dir("proc", 0o755),
		Dir("root", 0o700),
		Dir("run", 0o755),
		Dir("sys", 0o755),
		Dir("tmp", 0o777|fs.ModeSticky),
	)
	app := []File{
		Dir("srv", 0o755),
		Dir("srv/app", 0o755).Owned(1000, 1000),
		Reg("srv/app/hello.txt", "hello from the busybox image\n", 0o644).Owned(1000, 1000),
	}
	return [][]File{base, app}
}

// MultiLayerLayers are the layers of MultiLayer, for tests that want to
// name what they check. Every layer N has a file "layerN" holding
// "layer N". Besides:
//
//	1: dirs keep/ (keep/a "a from layer 1"), gone/ (gone/file),
//	   opaque/ (opaque/lower, opaque/sub/lower); deleted.txt
//	2: setuid (04755), owned (0640, 1000:1000), symlink -> layer1,
//	   abs-symlink -> /layer2, hardlink (a hardlink to layer2),
//	   sticky/ (01777)
//	3: .wh.deleted.txt and .wh.gone (a file and a directory whited out);
//	   opaque/.wh..wh..opq with opaque/upper (only upper stays in opaque/)
//	4: keep/a rewritten ("a from layer 4"); opaque/from4
//	5: empty (zero bytes), deep/a/b/c/file
func MultiLayerLayers() [][]File {
	layers := [][]File{
		{
			Dir("keep", 0o755),
			Reg("keep/a", "a from layer 1", 0o644),
			Dir("gone", 0o755),
			Reg("gone/file", "in a directory that layer 3 deletes", 0o644),
			Dir("opaque", 0o755),
			Reg("opaque/lower", "hidden by layer 3", 0o644),
			Dir("opaque/sub", 0o755),
			Reg("opaque/sub/lower", "hidden by layer 3", 0o644),
			Reg("deleted.txt", "deleted by layer 3", 0o644),
		},
		{
			Reg("setuid", "#!/bin/sh\n", 0o755|fs.ModeSetuid),
			Reg("owned", "owned by 1000:1000", 0o640).Owned(1000, 1000),
			Symlink("symlink", "layer1"),
			Symlink("abs-symlink", "/layer2"),
			Dir("sticky", 0o777|fs.ModeSticky),
		},
		{
			Whiteout("deleted.txt"),
			Whiteout("gone"),
			Dir("opaque", 0o755),
			Opaque("opaque"),
			Reg("opaque/upper", "from layer 3", 0o644),
		},
		{
			Reg("keep/a", "a from layer 4", 0o600),
			Reg("opaque/from4", "from layer 4", 0o644),
		},
		{
			Reg("empty", "", 0o644),
			Reg("deep/a/b/c/file", "deep", 0o444),
		},
	}
	for i := range layers {
		n := i + 1
		layers[i] = append([]File{Reg(fmt.Sprintf("layer%d", n), fmt.Sprintf("layer %d", n), 0o644)}, layers[i]...)
	}
	// The hardlink comes after its target, layer2, in the same layer.
	layers[1] = append(layers[1], Hardlink("hardlink", "layer2"))
	return layers
}

// MultiLayerConfig is MultiLayer's config.
var MultiLayerConfig = v1.Config{
	Cmd:    []string{"/layer5"},
	Env:    []string{"PATH=/usr/bin:/bin"},
	Labels: map[string]string{"org.minirun.test": "multilayer"},
}

// MultiLayer builds the five layers of MultiLayerLayers, with media types
// and compression as opts say (gzip, zstd or uncompressed; OCI or Docker).
// It has no executable; it is for checking what unpacking produces.
func MultiLayer(t testing.TB, opts BuildOptions) *Image {
	t.Helper()
	return NewImage(t, MultiLayerLayers(), MultiLayerConfig, opts)
}

// ManyLayers builds an image of n layers, layer N holding one file
// "layerN" with "layer N". Sixty layers is the case to test: their
// directories, listed in one overlay "lowerdir=" option, outgrow the page
// that mount(2) takes options in.
func ManyLayers(t testing.TB, n int, opts BuildOptions) *Image {
	t.Helper()
	layers := make([][]File, n)
	for i := range layers {
		layers[i] = []File{Reg(fmt.Sprintf("layer%d", i+1), fmt.Sprintf("layer %d", i+1), 0o644)}
	}
	return NewImage(t, layers, v1.Config{Cmd: []string{"/layer1"}}, opts)
}

// Index is a built image index (an OCI index or a Docker manifest list)
// with its images. Push Index.Index with Registry.PushIndex.
type Index struct {
	Index v1.ImageIndex
	// Images are in the index's order; Images[i].Platform is the
	// platform the index lists for it.
	Images []*Image
}

// Platforms are the platforms the index offers, in order.
func (ix *Index) Platforms() []v1.Platform {
	var out []v1.Platform
	for _, im := range ix.Images {
		out = append(out, im.Platform)
	}
	return out
}

// ForPlatform is the image the index lists for p, nil if none.
func (ix *Index) ForPlatform(p v1.Platform) *Image {
	for _, im := range ix.Images {
		if im.Platform.Equals(p) {
			return im
		}
	}
	return nil
}

// PlatformFile is the file every image of MultiPlatform and ForeignIndex
// has, holding its platform ("linux/arm64/v8"), so a test sees which one
// was picked.
const PlatformFile = "platform"

// MultiPlatform builds an index of linux/amd64 and linux/arm64/v8 (and the
// host's platform if it is neither). The entry for the host's platform is
// Busybox with a third layer holding PlatformFile; the others are a single
// layer holding PlatformFile only. opts.Platform is ignored.
func MultiPlatform(t testing.TB, opts BuildOptions) *Index {
	t.Helper()
	platforms := []v1.Platform{
		{OS: "linux", Architecture: "amd64"},
		{OS: "linux", Architecture: "arm64", Variant: "v8"},
	}
	host := HostPlatform()
	if !slices.ContainsFunc(platforms, host.Equals) {
		platforms = append(platforms, host)
	}
	return newIndex(t, platforms, opts)
}

// ForeignIndex builds an index of two platforms, neither the host's (on
// amd64: linux/arm64/v8 and linux/ppc64le), each a single layer holding
// PlatformFile: pulling it for this host must fail and, ideally, say what
// the index offers.
func ForeignIndex(t testing.TB, opts BuildOptions) *Index {
	t.Helper()
	var platforms []v1.Platform
	host := HostPlatform()
	for _, p := range []v1.Platform{
		{OS: "linux", Architecture: "arm64", Variant: "v8"},
		{OS: "linux", Architecture: "ppc64le"},
		{OS: "linux", Architecture: "s390x"},
	} {
		if p.Architecture != host.Architecture && len(platforms) < 2 {
			platforms = append(platforms, p)
		}
	}
	return newIndex(t, platforms, opts)
}

func newIndex(t testing.TB, platforms []v1.Platform, opts BuildOptions) *Index {
	t.Helper()
	var idx v1.ImageIndex = empty.Index
	if opts.Format == Docker {
		idx = mutate.IndexMediaType(idx, types.DockerManifestList)
	} else {
		idx = mutate.IndexMediaType(idx, types.OCIImageIndex)
	}
	ix := &Index{}
	host := HostPlatform()
	for _, p := range platforms {
		o := opts
		o.Platform = &p
		marker := []File{Reg(PlatformFile, p.String(), 0o644)}
		var im *Image
		if p.Equals(host) {
			im = NewImage(t, append(BusyboxLayers(t), marker), BusyboxConfig, o)
		} else {
			im = NewImage(t, [][]File{marker}, v1.Config{Cmd: []string{"/" + PlatformFile}}, o)
		}
		mt, err := im.Image.MediaType()
		if err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        im.Image,
			Descriptor: v1.Descriptor{MediaType: mt, Platform: &p},
		})
		ix.Images = append(ix.Images, im)
	}
	ix.Index = idx
	return ix
}
