package testregistry

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/minirun/minirun/internal/testenv"
)

func ref(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// anonymous is how a client without credentials talks to a registry.
func anonymous() []remote.Option {
	return []remote.Option{remote.WithAuth(authn.Anonymous), remote.WithTransport(localTransport())}
}

// get sends a plain GET to 127.0.0.1, bypassing any proxy.
func get(url string) (*http.Response, error) {
	return (&http.Client{Transport: localTransport()}).Get(url)
}

func wantStatus(t *testing.T, err error, status int) {
	t.Helper()
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != status {
		t.Fatalf("got error %v, want HTTP %d", err, status)
	}
}

func TestPushPull(t *testing.T) {
	for _, auth := range []Auth{AuthNone, AuthBasic, AuthToken} {
		t.Run(auth.String(), func(t *testing.T) {
			r := Start(t, Options{Auth: auth})
			im := Busybox(t, BuildOptions{})
			pushed := r.Push(t, "busybox:1", im.Image)

			img, err := remote.Image(ref(t, pushed), r.RemoteOptions()...)
			if err != nil {
				t.Fatalf("pull %s: %v", pushed, err)
			}
			if got, want := mustDigest(t, img), im.ManifestDigest(t); got != want {
				t.Errorf("pulled manifest %s, pushed %s", got, want)
			}
			checkImage(t, img)

			if auth == AuthNone {
				return
			}
			_, err = remote.Head(ref(t, pushed), anonymous()...)
			wantStatus(t, err, http.StatusUnauthorized)
			_, err = remote.Head(ref(t, pushed), remote.WithTransport(localTransport()),
				remote.WithAuth(&authn.Basic{Username: r.Username, Password: "wrong"}))
			wantStatus(t, err, http.StatusUnauthorized)
		})
	}
}

func TestTokenFlow(t *testing.T) {
	r := Start(t, Options{Auth: AuthToken})
	r.Push(t, "flow/busybox:latest", Busybox(t, BuildOptions{}).Image)
	served := r.TokenRequests()
	if len(served) == 0 {
		t.Fatal("push succeeded without a token request")
	}
	var pushScope bool
	for _, tr := range served {
		if tr.Account == r.Username && tr.Status == http.StatusOK &&
			slices.ContainsFunc(tr.Scopes, func(s string) bool {
				return strings.Contains(s, "repository:flow/busybox:") && strings.Contains(s, "push")
			}) {
			pushScope = true
		}
	}
	if !pushScope {
		t.Errorf("no token granted for pushing flow/busybox; token requests: %+v", served)
	}

	// The registry itself refuses a request without a token, and a token
	// the registry did not sign.
	resp, err := get("http://" + r.Host + "/v2/flow/busybox/manifests/latest")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
		t.Errorf("GET without token: %s, WWW-Authenticate %q; want 401 with a Bearer challenge",
			resp.Status, resp.Header.Get("WWW-Authenticate"))
	}
	forged := newTokenIssuer(t, r.Username, r.Password, false)
	tok, err := forged.sign(map[string]any{"iss": TokenIssuer, "aud": TokenService, "exp": 1 << 40, "nbf": 0,
		"access": []resourceActions{{Type: "repository", Name: "flow/busybox", Actions: []string{"pull"}}}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+r.Host+"/v2/flow/busybox/manifests/latest", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err = localTransport().RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET with a token signed by an unknown key: %s, want 401", resp.Status)
	}
}

func TestTokenAnonymousPull(t *testing.T) {
	r := Start(t, Options{Auth: AuthToken, AnonymousPull: true})
	im := Busybox(t, BuildOptions{})
	pushed := r.Push(t, "public/busybox", im.Image)

	img, err := remote.Image(ref(t, pushed), anonymous()...)
	if err != nil {
		t.Fatalf("anonymous pull: %v", err)
	}
	if got, want := mustDigest(t, img), im.ManifestDigest(t); got != want {
		t.Errorf("pulled %s, pushed %s", got, want)
	}
	if err := remote.Write(ref(t, r.Ref("public/other")), im.Image, anonymous()...); err == nil {
		t.Error("anonymous push succeeded; the token endpoint grants anonymous clients pull only")
	}
}

func TestPushIndex(t *testing.T) {
	r := Start(t, Options{})
	for _, format := range []Format{OCI, Docker} {
		t.Run(format.String(), func(t *testing.T) {
			ix := MultiPlatform(t, BuildOptions{Format: format})
			pushed := r.PushIndex(t, "multi-"+format.String(), ix.Index)

			idx, err := remote.Index(ref(t, pushed), r.RemoteOptions()...)
			if err != nil {
				t.Fatal(err)
			}
			mt, _ := idx.MediaType()
			want := types.OCIImageIndex
			if format == Docker {
				want = types.DockerManifestList
			}
			if mt != want {
				t.Errorf("index media type %s, want %s", mt, want)
			}
			host := HostPlatform()
			img, err := remote.Image(ref(t, pushed), append(r.RemoteOptions(), remote.WithPlatform(host))...)
			if err != nil {
				t.Fatalf("pull %s for %s: %v", pushed, host, err)
			}
			if got, want := mustDigest(t, img), ix.ForPlatform(host).ManifestDigest(t); got != want {
				t.Errorf("pulled %s for %s, want %s", got, host, want)
			}
		})
	}
}

// TestPushVariants pushes every layer format the builders make; the
// registry must take zstd and uncompressed layers as well as gzip ones.
func TestPushVariants(t *testing.T) {
	r := Start(t, Options{})
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			im := MultiLayer(t, v.opts)
			pushed := r.Push(t, "multilayer:"+v.name, im.Image)
			img, err := remote.Image(ref(t, pushed), r.RemoteOptions()...)
			if err != nil {
				t.Fatal(err)
			}
			checkImage(t, img)
		})
	}
	im := ManyLayers(t, 60, BuildOptions{})
	img, err := remote.Image(ref(t, r.Push(t, "many", im.Image)), r.RemoteOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	if layers, _ := img.Layers(); len(layers) != 60 {
		t.Errorf("pulled %d layers, want 60", len(layers))
	}
}

func TestDeleteAndStop(t *testing.T) {
	r := Start(t, Options{})
	pushed := r.Push(t, "gone", ManyLayers(t, 1, BuildOptions{}).Image)
	r.Delete(t, pushed)
	_, err := remote.Head(ref(t, pushed), r.RemoteOptions()...)
	wantStatus(t, err, http.StatusNotFound)

	r.Stop()
	if _, err := get("http://" + r.Host + "/v2/"); err == nil {
		t.Error("registry still answers after Stop")
	}
}

// TestSkopeo cross-checks the pushed images with another client.
func TestSkopeo(t *testing.T) {
	skopeo, err := exec.LookPath("skopeo")
	if err != nil {
		testenv.SkipOrFail(t, "skopeo is not installed: "+err.Error())
	}
	for _, auth := range []Auth{AuthNone, AuthBasic, AuthToken} {
		t.Run(auth.String(), func(t *testing.T) {
			r := Start(t, Options{Auth: auth})
			im := Busybox(t, BuildOptions{Format: Docker})
			pushed := r.Push(t, "busybox:skopeo", im.Image)
			ix := MultiPlatform(t, BuildOptions{})
			pushedIndex := r.PushIndex(t, "multi:skopeo", ix.Index)

			inspect := func(target string, flags ...string) []byte {
				args := append([]string{"inspect", "--tls-verify=false"}, flags...)
				if auth != AuthNone {
					args = append(args, "--creds", r.Username+":"+r.Password)
				}
				args = append(args, "docker://"+target)
				cmd := exec.Command(skopeo, args...)
				// No credentials or proxies of whoever runs the test.
				cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
				out, err := cmd.Output()
				if err != nil {
					var ee *exec.ExitError
					if errors.As(err, &ee) {
						t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, ee.Stderr)
					}
					t.Fatal(err)
				}
				return out
			}
			var got struct {
				Digest       string
				Architecture string
				Labels       map[string]string
			}
			if err := json.Unmarshal(inspect(pushed), &got); err != nil {
				t.Fatal(err)
			}
			if got.Digest != im.ManifestDigest(t).String() || got.Labels["org.minirun.test"] != "busybox" ||
				got.Architecture != im.Platform.Architecture {
				t.Errorf("skopeo inspect %s: %+v; want digest %s, label busybox, architecture %s",
					pushed, got, im.ManifestDigest(t), im.Platform.Architecture)
			}
			var raw struct {
				MediaType string
				Manifests []struct{ Platform struct{ Architecture string } }
			}
			if err := json.Unmarshal(inspect(pushedIndex, "--raw"), &raw); err != nil {
				t.Fatal(err)
			}
			if raw.MediaType != string(types.OCIImageIndex) || len(raw.Manifests) != len(ix.Images) {
				t.Errorf("skopeo inspect --raw %s: %+v", pushedIndex, raw)
			}
		})
	}
}

func mustDigest(t *testing.T, img interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}
