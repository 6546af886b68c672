package test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	tr "github.com/minirun/minirun/internal/testregistry"
)

// imageRT runs minirun with the test's own --root and an image store of
// the test's own.
func imageRT(t *testing.T, store string, args ...string) result {
	t.Helper()
	return rt(t, append([]string{"--store", store}, args...)...)
}

func requireMinirun(t *testing.T) {
	t.Helper()
	if !isMinirun {
		t.Skip("images are minirun's, not part of the OCI runtime interface")
	}
}

// checkNoContainers fails if an image run left its directory behind.
func checkNoContainers(t *testing.T, store string) {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(store, "containers"))
	for _, e := range ents {
		if e.IsDir() {
			t.Errorf("container directory left: %s", e.Name())
		}
	}
	if m := mountsUnder(store); len(m) > 0 {
		t.Errorf("mounts left under the store: %v", m)
	}
}

// An image of busybox with MultiLayer's five layers on top, pulled from a
// real registry and run: the container sees the merged tree.
func TestImagePullAndRun(t *testing.T) {
	requireMinirun(t)
	stateFor(t)
	reg := tr.Start(t, tr.Options{})
	layers := append(tr.BusyboxLayers(t), tr.MultiLayerLayers()...)
	img := tr.NewImage(t, layers, tr.BusyboxConfig, tr.BuildOptions{})
	ref := reg.Push(t, "merged:v1", img.Image)
	store := t.TempDir()

	r := imageRT(t, store, "pull", ref)
	if r.code != 0 || strings.TrimSpace(r.stdout) != ref || strings.Count(r.stderr, ": pulled ") != 7 {
		t.Fatalf("pull: %v; want the name on stdout and a line per layer (7) on stderr", r)
	}
	r = imageRT(t, store, "pull", ref)
	if r.code != 0 || !strings.Contains(r.stderr, "Image is up to date") {
		t.Errorf("second pull: %v", r)
	}
	if r = imageRT(t, store, "pull", "-q", ref); r.code != 0 || r.stderr != "" {
		t.Errorf("pull -q: %v; want nothing on stderr", r)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"layer 3", []string{"cat", "/layer3"}, 0, "layer 3"},
		{"top layer wins", []string{"cat", "/keep/a"}, 0, "a from layer 4"},
		{"whiteout", []string{"sh", "-c", "test -e /deleted.txt || test -e /gone || echo gone"}, 0, "gone"},
		{"opaque", []string{"ls", "/opaque"}, 0, "from4\nupper"},
		{"symlink", []string{"cat", "/symlink"}, 0, "layer 1"},
		{"hardlink", []string{"stat", "-c", "%h %s", "/hardlink"}, 0, "2 7"},
		{"setuid and owner", []string{"stat", "-c", "%a %u:%g", "/setuid", "/owned"}, 0, "4755 0:0\n640 1000:1000"},
		{"image config", []string{"sh", "-c", "pwd; echo $MINIRUN_TEST"}, 0, "/srv/app\nbusybox"},
		{"user by name", []string{"-u", "app", "id"}, 0, "uid=1000(app) gid=1000(app) groups=50(staff)"},
		{"exit status", []string{"sh", "-c", "exit 3"}, 3, ""},
		{"writes stay in the container", []string{"sh", "-c", "echo x > /layer1 && cat /layer1"}, 0, "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", "--rm"}, tc.args...)
			if tc.args[0] == "-u" {
				args = append([]string{"run", "--rm", "-u", tc.args[1], ref}, tc.args[2:]...)
			} else {
				args = append(args[:2], append([]string{ref}, tc.args...)...)
			}
			r := imageRT(t, store, args...)
			if r.code != tc.code || strings.TrimSpace(r.stdout) != tc.out {
				t.Errorf("%v\nwant exit %d and %q", r, tc.code, tc.out)
			}
		})
	}
	// The write above went to that container's upper layer only.
	if r := imageRT(t, store, "run", "--rm", ref, "cat", "/layer1"); strings.TrimSpace(r.stdout) != "layer 1" {
		t.Errorf("a container's write leaked into the image: %v", r)
	}
	checkNoContainers(t, store)

	r = imageRT(t, store, "images", "--format", "json")
	var rows []struct{ Name, ID string }
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 || rows[0].Name != ref {
		t.Errorf("images --format json: %v (%v)", r, err)
	}
	r = imageRT(t, store, "image", "inspect", ref)
	var insp []struct {
		Config struct {
			Config v1.Config `json:"config"`
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &insp); err != nil || len(insp) != 1 || insp[0].Config.Config.WorkingDir != "/srv/app" {
		t.Errorf("image inspect: %v (%v)", r, err)
	}
	if r := imageRT(t, store, "rmi", ref); r.code != 0 {
		t.Fatalf("rmi: %v", r)
	}
	if r := imageRT(t, store, "run", "--rm", "--pull", "never", ref, "true"); r.code != 125 || !strings.Contains(r.stderr, "not found") {
		t.Errorf("run --pull never of a removed image: %v; want 125 and not found", r)
	}
	// Pulled again on demand, with docker's notice.
	if r := imageRT(t, store, "run", "--rm", ref, "cat", "/layer5"); r.code != 0 || r.stdout != "layer 5" || !strings.Contains(r.stderr, "Unable to find image") {
		t.Errorf("run of a missing image: %v", r)
	}
	checkNoContainers(t, store)
}

// Sixty layers: their directories do not fit in one page of overlayfs
// options, and must still mount.
func TestImageManyLayers(t *testing.T) {
	requireMinirun(t)
	stateFor(t)
	reg := tr.Start(t, tr.Options{})
	layers := tr.BusyboxLayers(t)
	for _, l := range tr.ManyLayers(t, 60, tr.BuildOptions{}).Layers {
		layers = append(layers, l.Files)
	}
	ref := reg.Push(t, "sixty:v1", tr.NewImage(t, layers, tr.BusyboxConfig, tr.BuildOptions{}).Image)
	store := t.TempDir()
	r := imageRT(t, store, "run", "--rm", "--pull", "always", ref, "sh", "-c", "cat /layer1 /layer60; echo; ls / | grep -c '^layer'")
	if r.code != 0 || r.stdout != "layer 1layer 60\n60\n" {
		t.Errorf("%v\nwant both ends of the stack and 60 layer files", r)
	}
	checkNoContainers(t, store)
}

func TestImageErrors(t *testing.T) {
	requireMinirun(t)
	stateFor(t)
	reg := tr.Start(t, tr.Options{})
	store := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown image", []string{"run", "--rm", reg.Ref("nothing:here"), "true"}, 125, "no such image"},
		{"bad reference", []string{"run", "--rm", "UPPER/case", "true"}, 125, "invalid image reference"},
		{"bad pull policy", []string{"run", "--pull", "sometimes", reg.Ref("x"), "true"}, 125, "--pull"},
		{"pull unknown", []string{"pull", reg.Ref("nothing:here")}, 1, "no such image"},
		{"bad platform", []string{"pull", "--platform", "linux", reg.Ref("x")}, 1, "invalid platform"},
		{"rmi unknown", []string{"rmi", "nothing"}, 1, "no such image"},
		{"load garbage", []string{"load", "-i", "/proc/self/status"}, 1, "not a tar"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := imageRT(t, store, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 1 {
				t.Errorf("%v\nwant exit %d and one line with %q", r, tc.code, tc.want)
			}
		})
	}
	checkNoContainers(t, store)
}

// save writes an archive that load reads back in another store, and the
// image runs from there.
func TestImageSaveLoad(t *testing.T) {
	requireMinirun(t)
	stateFor(t)
	reg := tr.Start(t, tr.Options{})
	ref := reg.Push(t, "bb:v1", tr.Busybox(t, tr.BuildOptions{}).Image)
	a, b := t.TempDir(), t.TempDir()
	if r := imageRT(t, a, "pull", "-q", ref); r.code != 0 {
		t.Fatal(r)
	}
	file := filepath.Join(t.TempDir(), "bb.tar")
	if r := imageRT(t, a, "save", "-o", file, ref); r.code != 0 {
		t.Fatal(r)
	}
	if r := imageRT(t, b, "load", "-i", file); r.code != 0 || !strings.Contains(r.stdout, "Loaded image: "+ref) {
		t.Fatalf("load: %v", r)
	}
	if r := imageRT(t, b, "run", "--rm", "--pull", "never", ref); r.code != 0 || r.stdout != "hello from busybox\n" {
		t.Errorf("run of the loaded image (entrypoint + cmd): %v", r)
	}
	checkNoContainers(t, b)
}

// A pull killed mid-way (SIGKILL: no chance to clean up) leaves no blob,
// layer or name behind, only a directory in tmp/ that the next pull
// removes; one interrupted with SIGINT cleans up itself. Either way the
// next pull completes.
func TestImagePullInterrupted(t *testing.T) {
	requireMinirun(t)
	stateFor(t)
	reg := tr.Start(t, tr.Options{})
	// Thousands of small files: slow enough to unpack (a file costs
	// far more than its bytes) that the signal lands mid-pull, small
	// enough to stay quick in an emulated VM.
	rnd := rand.New(rand.NewPCG(1, 2))
	var layers [][]tr.File
	for l := range 3 {
		var files []tr.File
		for i := range 1500 {
			data := make([]byte, 4096)
			for j := range data {
				data[j] = byte(rnd.Uint32())
			}
			files = append(files, tr.File{Path: fmt.Sprintf("l%d/f%04d", l, i), Mode: 0o644, Data: data})
		}
		layers = append(layers, files)
	}
	ref := reg.Push(t, "big:v1", tr.NewImage(t, layers, v1.Config{Cmd: []string{"true"}}, tr.BuildOptions{Compression: tr.Uncompressed}).Image)
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			store := t.TempDir()
			if r := imageRT(t, store, "images", "-q"); r.code != 0 { // creates the empty layout
				t.Fatal(r)
			}
			cmd := exec.Command(runtimePath, "--store", store, "pull", "-q", ref)
			if err := startCmd(cmd); err != nil {
				t.Fatal(err)
			}
			// Kill it once it has written some of a layer.
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) && duSize(filepath.Join(store, "tmp")) < 1<<20 {
				time.Sleep(5 * time.Millisecond)
			}
			cmd.Process.Signal(sig)
			err := waitCmd(cmd)
			if err == nil {
				t.Fatal("the pull finished before it could be interrupted")
			}
			for _, d := range []string{"blobs/sha256", "layers/sha256"} {
				if ents, _ := os.ReadDir(filepath.Join(store, d)); len(ents) != 0 {
					t.Errorf("%s: %d entries after an interrupted pull", d, len(ents))
				}
			}
			if b, _ := os.ReadFile(filepath.Join(store, "index.json")); strings.Contains(string(b), "big") {
				t.Errorf("index.json names the image: %s", b)
			}
			left, _ := os.ReadDir(filepath.Join(store, "tmp"))
			if sig == syscall.SIGINT && len(left) != 0 {
				t.Errorf("SIGINT: tmp/ keeps %d entries; the pull should clean up", len(left))
			}
			// The whole ~150 MiB image: more than rtTimeout where sha256
			// is slow (about 20 s in the test VM's TCG, 30 s under load).
			if r := rtWith(t, rtOpts{timeout: 3 * time.Minute}, "--store", store, "pull", "-q", ref); r.code != 0 {
				t.Fatalf("pull after the interruption: %v", r)
			}
			if left, _ := os.ReadDir(filepath.Join(store, "tmp")); len(left) != 0 {
				t.Errorf("tmp/ keeps %d entries after the next pull", len(left))
			}
		})
	}
}

func duSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
