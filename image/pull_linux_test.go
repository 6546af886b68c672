package image

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/minirun/minirun/internal/testenv"
	tr "github.com/minirun/minirun/internal/testregistry"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	testenv.RequireRoot(t)
	s, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pull(t *testing.T, s *Store, ref string, o PullOptions) *PullResult {
	t.Helper()
	res, err := s.Pull(context.Background(), ref, o)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	return res
}

// checkTree reads every file of want through the store's merged view and
// checks that whited-out names are gone.
func checkTree(t *testing.T, s *Store, im *Image, want []tr.File, gone []string) {
	t.Helper()
	view, err := s.RootFS(im)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range want {
		if !f.IsRegular() {
			continue
		}
		b, err := fs.ReadFile(view, f.Path)
		if err != nil {
			t.Errorf("%s: %v", f.Path, err)
			continue
		}
		if string(b) != string(f.Data) {
			t.Errorf("%s: content %q, want %q", f.Path, b, f.Data)
		}
	}
	for _, g := range gone {
		if _, err := fs.Stat(view, g); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: should be whited out, got %v", g, err)
		}
	}
}

// snapshot is every file under dir with its type, mode, owner and a hash
// of its content: two equal snapshots mean a byte-for-byte equal store.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		v := info.Mode().String()
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(b)
			v += " " + hex.EncodeToString(h[:])
		}
		out[rel] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameSnapshot(t *testing.T, before, after map[string]string) {
	t.Helper()
	for k, v := range after {
		if before[k] != v {
			t.Errorf("store changed: %s: %q, was %q", k, v, before[k])
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			t.Errorf("store changed: %s is gone", k)
		}
	}
}

func TestPullFormats(t *testing.T) {
	reg := tr.Start(t, tr.Options{})
	for _, o := range []tr.BuildOptions{
		{Format: tr.OCI, Compression: tr.Gzip},
		{Format: tr.OCI, Compression: tr.Zstd},
		{Format: tr.OCI, Compression: tr.Uncompressed},
		{Format: tr.Docker, Compression: tr.Gzip},
		{Format: tr.Docker, Compression: tr.Uncompressed},
	} {
		t.Run(o.Format.String()+"-"+o.Compression.String(), func(t *testing.T) {
			s := newStore(t)
			img := tr.MultiLayer(t, o)
			ref := reg.Push(t, "multi-"+strings.ToLower(o.Format.String()+"-"+o.Compression.String())+":v1", img.Image)
			res := pull(t, s, ref, PullOptions{})
			if res.UpToDate {
				t.Error("first pull says up to date")
			}
			im := res.Image
			if want := img.ManifestDigest(t); im.Source.String() != want.String() {
				t.Errorf("source digest %s, registry has %s", im.Source, want)
			}
			// Docker manifests are stored as OCI ones (same blobs).
			if im.Manifest.MediaType != ocispec.MediaTypeImageManifest || (o.Format == tr.OCI) != (im.Digest == im.Source) {
				t.Errorf("stored manifest %s (%s), source %s", im.Digest, im.Manifest.MediaType, im.Source)
			}
			if len(im.Manifest.Layers) != 5 {
				t.Fatalf("%d layers", len(im.Manifest.Layers))
			}
			for i, l := range img.Layers {
				if im.Manifest.Layers[i].Digest.String() != l.Digest.String() || im.Config.RootFS.DiffIDs[i].String() != l.DiffID.String() {
					t.Errorf("layer %d: %s/%s, built %s/%s", i, im.Manifest.Layers[i].Digest, im.Config.RootFS.DiffIDs[i], l.Digest, l.DiffID)
				}
				if !s.hasBlob(digest.Digest(l.Digest.String())) || !s.layerComplete(digest.Digest(l.DiffID.String())) {
					t.Errorf("layer %d: blob or unpacked dir missing", i)
				}
			}
			checkTree(t, s, im, img.Tree(), []string{"deleted.txt", "gone/file", "opaque/lower", "opaque/sub/lower"})
			// The layers are in overlayfs form: a whiteout is a 0/0 char
			// device, an opaque dir carries trusted.overlay.opaque=y.
			l3 := s.LayerFS(digest.Digest(img.Layers[2].DiffID.String()))
			if st, err := os.Lstat(filepath.Join(l3, "deleted.txt")); err != nil || st.Mode()&fs.ModeCharDevice == 0 {
				t.Errorf("layer 3 deleted.txt: %v %v, want a whiteout device", st, err)
			}
			if !opaque(filepath.Join(l3, "opaque")) {
				t.Error("layer 3 opaque/ is not marked opaque")
			}
			l2 := s.LayerFS(digest.Digest(img.Layers[1].DiffID.String()))
			if st, err := os.Lstat(filepath.Join(l2, "setuid")); err != nil || st.Mode()&fs.ModeSetuid == 0 {
				t.Errorf("setuid bit lost: %v %v", st, err)
			}
			checkLayout(t, s, im.Name)
		})
	}
}

// checkLayout asks skopeo, an independent reader, to read the image from
// the store as an OCI layout and copy it out, which checks every blob.
func checkLayout(t *testing.T, s *Store, name string) {
	t.Helper()
	needTool(t, "skopeo")
	out, err := exec.Command("skopeo", "inspect", "oci:"+s.Root()+":"+name).CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo inspect: %v\n%s", err, out)
	}
	var info struct{ Digest string }
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatal(err)
	}
	im, err := s.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	if info.Digest != im.Digest.String() {
		t.Errorf("skopeo reads digest %s, the store says %s", info.Digest, im.Digest)
	}
	if out, err := exec.Command("skopeo", "--insecure-policy", "copy", "-q", "oci:"+s.Root()+":"+name, "dir:"+t.TempDir()).CombinedOutput(); err != nil {
		t.Errorf("skopeo copy out of the store: %v\n%s", err, out)
	}
}

// A second pull of an unchanged image is one HEAD request (after the
// /v2/ ping): no manifest GET, no blob.
func TestPullUpToDate(t *testing.T) {
	reg := tr.Start(t, tr.Options{})
	s := newStore(t)
	reg.Push(t, "bb:latest", tr.Busybox(t, tr.BuildOptions{}).Image)
	p := reg.Proxy(t, tr.Fault{})
	first := pull(t, s, p.Ref("bb"), PullOptions{})
	if n := p.Count("GET", "/blobs/"+first.Image.Manifest.Layers[0].Digest.String()); n != 1 {
		t.Errorf("first pull: %d GETs of the first layer", n)
	}
	p.Reset()
	again := pull(t, s, p.Ref("bb"), PullOptions{})
	if !again.UpToDate || again.Image.Digest != first.Image.Digest {
		t.Errorf("second pull: up to date %v, digest %s", again.UpToDate, again.Image.Digest)
	}
	for _, r := range p.Requests() {
		if r.Method == "GET" && r.Path != "/v2/" {
			t.Errorf("second pull sent GET %s", r.Path)
		}
	}
	if p.Count("HEAD", "/manifests/latest") != 1 {
		t.Errorf("second pull: requests %v, want one manifest HEAD", p.Requests())
	}
	// A new image under the same tag is pulled, sharing what it can.
	reg.Push(t, "bb:latest", tr.MultiLayer(t, tr.BuildOptions{}).Image)
	p.Reset()
	if res := pull(t, s, p.Ref("bb"), PullOptions{}); res.UpToDate || res.Image.Digest == first.Image.Digest {
		t.Error("a changed tag was not pulled again")
	}
}

func TestPullPlatform(t *testing.T) {
	reg := tr.Start(t, tr.Options{})
	s := newStore(t)
	ix := tr.MultiPlatform(t, tr.BuildOptions{})
	reg.PushIndex(t, "multi:latest", ix.Index)
	host := pull(t, s, reg.Ref("multi"), PullOptions{})
	checkTree(t, s, host.Image, []tr.File{tr.Reg("platform", platformString(HostPlatform()), 0)}, nil)
	if host.Image.Source == host.Image.Digest {
		t.Error("the index's digest is not recorded as the source")
	}
	other := "linux/arm64/v8"
	if HostPlatform().Architecture == "arm64" {
		other = "linux/amd64"
	}
	s2 := newStore(t)
	res := pull(t, s2, reg.Ref("multi"), PullOptions{Platform: other})
	if got := platformOf(res.Image); got != other {
		t.Errorf("--platform %s pulled %s", other, got)
	}
	// Asking for the host's platform after another one pulls again.
	if res := pull(t, s2, reg.Ref("multi"), PullOptions{}); res.UpToDate {
		t.Error("a different platform was taken as up to date")
	}

	foreign := tr.ForeignIndex(t, tr.BuildOptions{})
	reg.PushIndex(t, "foreign:latest", foreign.Index)
	before := snapshot(t, s.Root())
	_, err := s.Pull(context.Background(), reg.Ref("foreign"), PullOptions{})
	if err == nil || !strings.Contains(err.Error(), "offers") {
		t.Fatalf("pull of an index without this platform: %v", err)
	}
	for _, p := range foreign.Platforms() {
		if !strings.Contains(err.Error(), p.OS+"/"+p.Architecture) {
			t.Errorf("error %q does not list %s/%s", err, p.OS, p.Architecture)
		}
	}
	sameSnapshot(t, before, snapshot(t, s.Root()))
}

func TestPullAuth(t *testing.T) {
	for _, auth := range []tr.Auth{tr.AuthBasic, tr.AuthToken} {
		t.Run(auth.String(), func(t *testing.T) {
			reg := tr.Start(t, tr.Options{Auth: auth})
			reg.Push(t, "private:latest", tr.Busybox(t, tr.BuildOptions{}).Image)
			t.Setenv("DOCKER_CONFIG", t.TempDir()) // no credentials
			s := newStore(t)
			_, err := s.Pull(context.Background(), reg.Ref("private"), PullOptions{})
			if err == nil || !strings.Contains(err.Error(), "access denied") {
				t.Errorf("anonymous pull: %v, want access denied", err)
			}
			_, err = s.Pull(context.Background(), reg.Ref("private"), PullOptions{Username: reg.Username, Password: "wrong"})
			if err == nil {
				t.Error("pull with a wrong password succeeded")
			}
			pull(t, s, reg.Ref("private"), PullOptions{Username: reg.Username, Password: reg.Password})

			// Credentials from config.json, as `docker login` writes them.
			dir := t.TempDir()
			cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, reg.Host, b64(reg.Username+":"+reg.Password))
			if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv("DOCKER_CONFIG", dir)
			before := len(reg.TokenRequests())
			pull(t, newStore(t), reg.Ref("private"), PullOptions{})
			if auth == tr.AuthToken {
				reqs := reg.TokenRequests()[before:]
				if len(reqs) == 0 || reqs[0].Account != reg.Username {
					t.Errorf("token requests %+v: want one for %s", reqs, reg.Username)
				}
			}
		})
	}
}

// A corrupt or cut-off blob fails the pull with a clear error and leaves
// the store exactly as it was; a later good pull completes.
func TestPullCorrupt(t *testing.T) {
	reg := tr.Start(t, tr.Options{})
	img := tr.MultiLayer(t, tr.BuildOptions{})
	reg.Push(t, "multi:latest", img.Image)
	reg.Push(t, "bb:latest", tr.Busybox(t, tr.BuildOptions{}).Image)
	big := img.Layers[0]
	for _, tc := range []struct {
		name  string
		fault tr.Fault
		want  string
	}{
		{"flip-middle", tr.Fault{Kind: tr.FlipByte, Digest: big.Digest.String(), Offset: big.Size / 2}, "digest mismatch"},
		{"flip-last", tr.Fault{Kind: tr.FlipByte, Digest: big.Digest.String(), Offset: -1}, "digest mismatch"},
		{"flip-first", tr.Fault{Kind: tr.FlipByte, Digest: big.Digest.String(), Offset: 0}, "digest mismatch"},
		{"truncate", tr.Fault{Kind: tr.Truncate, Digest: big.Digest.String(), Offset: big.Size / 2}, "transfer ended"},
		{"503", tr.Fault{Kind: tr.FailStatus, Digest: big.Digest.String(), Status: 503}, "503"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			pull(t, s, reg.Ref("bb"), PullOptions{}) // something to keep
			before := snapshot(t, s.Root())
			p := reg.Proxy(t, tc.fault)
			_, err := s.Pull(context.Background(), p.Ref("multi"), PullOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("pull: %v, want an error with %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), big.Digest.String()) {
				t.Errorf("error %q does not name the layer", err)
			}
			if d, _ := p.Faulted(); d == "" {
				t.Fatal("the proxy damaged nothing")
			}
			sameSnapshot(t, before, snapshot(t, s.Root()))
			if ents, _ := os.ReadDir(filepath.Join(s.Root(), "tmp")); len(ents) != 0 {
				t.Errorf("tmp/ keeps %d entries", len(ents))
			}
			res := pull(t, s, reg.Ref("multi"), PullOptions{})
			checkTree(t, s, res.Image, img.Tree(), nil)
		})
	}
}

// Two pulls of one image at the same time both succeed and fetch each
// blob once between them.
func TestPullConcurrent(t *testing.T) {
	reg := tr.Start(t, tr.Options{})
	img := tr.ManyLayers(t, 12, tr.BuildOptions{})
	reg.Push(t, "many:latest", img.Image)
	p := reg.Proxy(t, tr.Fault{})
	s := newStore(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Separate Stores: as separate minirun processes would.
			s2, err := Open(s.Root(), nil)
			if err == nil {
				_, err = s2.Pull(context.Background(), p.Ref("many"), PullOptions{})
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for _, l := range img.Layers {
		if n := p.Count("GET", "/blobs/"+l.Digest.String()); n != 1 {
			t.Errorf("layer %s fetched %d times", l.Digest, n)
		}
	}
	im, err := s.Get(p.Ref("many"))
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := s.LayerDirs(im)
	if err != nil || len(dirs) != 12 {
		t.Fatalf("layer dirs %v, %v", dirs, err)
	}
	// Newest first, as overlayfs's lowerdir wants them.
	if _, err := os.Stat(filepath.Join(dirs[0], "layer12")); err != nil {
		t.Errorf("first layer dir is not the top layer: %v", err)
	}
}

// Images share layers: rmi of one keeps what the other needs; an image a
// container uses is refused without -f; prune removes the unreferenced.
func TestRemoveAndPrune(t *testing.T) {
	reg := tr.Start(t, tr.Options{})
	s := newStore(t)
	bb := tr.Busybox(t, tr.BuildOptions{})
	reg.Push(t, "a:latest", bb.Image)
	reg.Push(t, "b:latest", bb.Image)
	reg.Push(t, "multi:latest", tr.MultiLayer(t, tr.BuildOptions{}).Image)
	a := pull(t, s, reg.Ref("a"), PullOptions{}).Image
	pull(t, s, reg.Ref("b"), PullOptions{})
	m := pull(t, s, reg.Ref("multi"), PullOptions{}).Image

	res, err := s.Remove([]string{reg.Ref("a")}, RemoveOptions{})
	if err != nil || len(res.Untagged) != 1 || len(res.Deleted) != 0 {
		t.Fatalf("rmi a: %+v, %v; want untag only (b shares everything)", res, err)
	}
	// By ID with two names is refused without -f.
	reg.Push(t, "c:latest", bb.Image)
	pull(t, s, reg.Ref("c"), PullOptions{})
	if _, err := s.Remove([]string{a.ID.Encoded()[:12]}, RemoveOptions{}); err == nil || !strings.Contains(err.Error(), "several names") {
		t.Errorf("rmi by ID of a twice-named image: %v", err)
	}

	inUse := func() (map[digest.Digest][]string, error) {
		return map[digest.Digest][]string{m.Digest: {"web"}}, nil
	}
	if _, err := s.Remove([]string{reg.Ref("multi")}, RemoveOptions{InUse: inUse}); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "web") {
		t.Errorf("rmi of an image in use: %v", err)
	}
	res, err = s.Remove([]string{reg.Ref("multi")}, RemoveOptions{InUse: inUse, Force: true})
	if err != nil || len(res.Deleted) != 0 {
		t.Fatalf("rmi -f of an image in use: %+v %v; its blobs must stay while the container does", res, err)
	}
	if _, err := s.LayerDirs(m); err != nil {
		t.Fatalf("the container's layers went: %v", err)
	}
	// The container is gone: prune collects the image's blobs and layers.
	res, err = s.Prune(RemoveOptions{})
	if err != nil || res.Layers != 5 || len(res.Deleted) != 7 {
		t.Fatalf("prune: %d layers, %d blobs (%v); want 5 and 7", res.Layers, len(res.Deleted), err)
	}
	if _, err := s.Remove([]string{reg.Ref("b"), reg.Ref("c")}, RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"blobs/sha256", "layers/sha256"} {
		if ents, _ := os.ReadDir(filepath.Join(s.Root(), d)); len(ents) != 0 {
			t.Errorf("%s keeps %d entries after removing every image", d, len(ents))
		}
	}
	idx, _ := s.readIndex()
	if len(idx.Manifests) != 0 {
		t.Errorf("index.json keeps %v", idx.Manifests)
	}
}

// save writes what load reads back, digests unchanged; so do an OCI
// layout directory (from skopeo) and a docker save archive.
func TestSaveLoad(t *testing.T) {
	reg := tr.Start(t, tr.Options{})
	s := newStore(t)
	img := tr.MultiLayer(t, tr.BuildOptions{Compression: tr.Zstd})
	reg.Push(t, "multi:latest", img.Image)
	reg.Push(t, "bb:1", tr.Busybox(t, tr.BuildOptions{}).Image)
	m := pull(t, s, reg.Ref("multi"), PullOptions{}).Image
	b := pull(t, s, reg.Ref("bb:1"), PullOptions{}).Image
	file := filepath.Join(t.TempDir(), "images.tar")
	if err := s.SaveFile(file, []string{m.Name, b.Name}); err != nil {
		t.Fatal(err)
	}
	s2 := newStore(t)
	ims, err := s2.Load(context.Background(), file, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ims) != 2 || ims[0].Digest != m.Digest || ims[1].Digest != b.Digest || ims[0].Name != m.Name {
		t.Fatalf("loaded %v", ims)
	}
	checkTree(t, s2, ims[0], img.Tree(), []string{"deleted.txt"})

	// skopeo reads the saved file as an OCI archive too.
	needTool(t, "skopeo")
	if out, err := exec.Command("skopeo", "inspect", "oci-archive:"+file+":"+m.Name).CombinedOutput(); err != nil {
		t.Errorf("skopeo inspect oci-archive: %v\n%s", err, out)
	}
	// An OCI layout directory that skopeo wrote.
	layout := t.TempDir()
	if out, err := exec.Command("skopeo", "--insecure-policy", "copy", "-q", "--src-tls-verify=false", "docker://"+reg.Ref("multi"), "oci:"+layout+":example.com/copied:v2").CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy: %v\n%s", err, out)
	}
	s3 := newStore(t)
	ims, err = s3.Load(context.Background(), layout, LoadOptions{})
	if err != nil || len(ims) != 1 || ims[0].Name != "example.com/copied:v2" {
		t.Fatalf("load of an OCI layout: %v, %v", ims, err)
	}
	checkTree(t, s3, ims[0], img.Tree(), nil)
}

// A docker save archive (manifest.json, plain tar layers) loads as an OCI
// image whose layers are the tars as they were.
func TestLoadDockerArchive(t *testing.T) {
	s := newStore(t)
	img := tr.MultiLayer(t, tr.BuildOptions{Compression: tr.Uncompressed})
	dir := t.TempDir()
	cfg, err := img.Image.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(filepath.Join(dir, "abc.json"), cfg, 0o644))
	var layers []string
	ls, _ := img.Image.Layers()
	for i, l := range ls {
		name := fmt.Sprintf("l%d/layer.tar", i)
		must(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755))
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		must(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
		layers = append(layers, name)
	}
	man, _ := json.Marshal([]dockerManifestEntry{{Config: "abc.json", RepoTags: []string{"saved:old"}, Layers: layers}})
	must(t, os.WriteFile(filepath.Join(dir, "manifest.json"), man, 0o644))
	file := filepath.Join(t.TempDir(), "docker.tar")
	if out, err := exec.Command("tar", "-C", dir, "-cf", file, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	ims, err := s.Load(context.Background(), file, LoadOptions{})
	if err != nil || len(ims) != 1 || ims[0].Name != "docker.io/library/saved:old" {
		t.Fatalf("load: %v %v", ims, err)
	}
	cfgDigest, _ := img.Image.ConfigName()
	if ims[0].ID.String() != cfgDigest.String() {
		t.Errorf("image ID %s, want the config's digest %s", ims[0].ID, cfgDigest)
	}
	checkTree(t, s, ims[0], img.Tree(), []string{"deleted.txt"})
	checkLayout(t, s, ims[0].Name)
	for _, l := range ims[0].Manifest.Layers {
		if l.MediaType != ocispec.MediaTypeImageLayer {
			t.Errorf("layer media type %s", l.MediaType)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	s := newStore(t)
	before := snapshot(t, s.Root())
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage")
	must(t, os.WriteFile(garbage, []byte("this is not a tar"), 0o644))
	// What GNU tar -cf writes for no files: end-of-archive zero blocks in
	// one 10 KiB record. Written here because busybox tar (the test VM's)
	// has no -T.
	emptyTar := filepath.Join(dir, "empty.tar")
	must(t, os.WriteFile(emptyTar, make([]byte, 10240), 0o644))
	for _, f := range []string{garbage, emptyTar, filepath.Join(dir, "missing")} {
		if _, err := s.Load(context.Background(), f, LoadOptions{}); err == nil {
			t.Errorf("load %s succeeded", f)
		}
	}
	sameSnapshot(t, before, snapshot(t, s.Root()))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// needTool skips (or fails, see testenv.SkipOrFail) unless name is on PATH.
func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		testenv.SkipOrFail(t, name+" is not installed")
	}
}
