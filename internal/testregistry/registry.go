package testregistry

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"

	"github.com/minirun/minirun/internal/testenv"
)

// Binary is the name of the distribution registry's executable as Debian
// packages it (package docker-registry); upstream calls it "registry".
const Binary = "docker-registry"

// Auth selects how the registry lets clients in.
type Auth int

const (
	// AuthNone: anyone may pull and push.
	AuthNone Auth = iota
	// AuthBasic: HTTP basic authentication against an htpasswd file
	// (bcrypt, the only scheme distribution accepts).
	AuthBasic
	// AuthToken: the Docker token flow. The registry answers 401 with a
	// "WWW-Authenticate: Bearer realm=...,service=...,scope=..." challenge;
	// the client asks the realm for a token (with basic credentials, or
	// anonymously) and retries with "Authorization: Bearer <token>".
	AuthToken
)

func (a Auth) String() string {
	switch a {
	case AuthNone:
		return "none"
	case AuthBasic:
		return "basic"
	case AuthToken:
		return "token"
	}
	return "Auth(" + strconv.Itoa(int(a)) + ")"
}

// Default credentials, used when Options leaves them empty.
const (
	DefaultUsername = "minirun"
	DefaultPassword = "minirun-test-password"
)

// Service and issuer the token flow uses: the token's "aud" and "iss".
const (
	TokenService = "minirun-test-registry"
	TokenIssuer  = "minirun-test-token-issuer"
	// TokenPath is where the token endpoint answers, on the registry's
	// own host and port (see Registry.Host).
	TokenPath = "/token"
)

// Options configure Start.
type Options struct {
	Auth Auth
	// Username and Password are the one account basic and token
	// authentication know; empty means DefaultUsername/DefaultPassword.
	Username, Password string
	// AnonymousPull lets the token endpoint hand anonymous clients a token
	// for "pull" (never for "push" or "delete"), like a public repository
	// on a hosted registry. Only meaningful with AuthToken.
	AnonymousPull bool
}

// Registry is a running distribution registry, owned by one test.
type Registry struct {
	// Host is "127.0.0.1:port", what image references start with.
	Host string
	// Auth, Username and Password are what the registry was started with.
	Auth               Auth
	Username, Password string

	// backend is the registry process's own address. Without token
	// authentication it equals Host. With it, Host is a small front server
	// that answers TokenPath itself and passes everything else through:
	// clients (go-containerregistry among them) refuse a token realm on a
	// loopback address other than the registry's own host and port.
	backend string
	dir     string
	cmd     *exec.Cmd
	exited  chan struct{}
	output  *syncBuffer
	stop    sync.Once
	tokens  *tokenIssuer
}

// Start starts a registry on a free port of 127.0.0.1 with its storage in
// a temporary directory, waits until it answers, and stops it when t ends.
// Without the registry binary the test is skipped (or fails, see
// testenv.SkipOrFail).
func Start(t testing.TB, opts Options) *Registry {
	t.Helper()
	bin, err := exec.LookPath(Binary)
	if err != nil {
		testenv.SkipOrFail(t, fmt.Sprintf("the distribution registry (%s) is not installed: %v", Binary, err))
	}
	r := &Registry{
		Auth:     opts.Auth,
		Username: opts.Username,
		Password: opts.Password,
		dir:      t.TempDir(),
	}
	if r.Auth != AuthNone {
		if r.Username == "" {
			r.Username = DefaultUsername
		}
		if r.Password == "" {
			r.Password = DefaultPassword
		}
	}

	var (
		auth  string
		front net.Listener // AuthToken only
	)
	switch r.Auth {
	case AuthNone:
	case AuthBasic:
		htpasswd := filepath.Join(r.dir, "htpasswd")
		writeHtpasswd(t, htpasswd, r.Username, r.Password)
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: %s\n    path: %s\n",
			yamlString("minirun-test-registry"), yamlString(htpasswd))
	case AuthToken:
		front, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen for the token front end: %v", err)
		}
		t.Cleanup(func() { front.Close() })
		r.Host = front.Addr().String()
		r.tokens = newTokenIssuer(t, r.Username, r.Password, opts.AnonymousPull)
		bundle := filepath.Join(r.dir, "token-root.pem")
		if err := os.WriteFile(bundle, r.tokens.certPEM(), 0o644); err != nil {
			t.Fatal(err)
		}
		auth = fmt.Sprintf("auth:\n  token:\n    realm: %s\n    service: %s\n    issuer: %s\n    rootcertbundle: %s\n",
			yamlString("http://"+r.Host+TokenPath), yamlString(TokenService),
			yamlString(TokenIssuer), yamlString(bundle))
	default:
		t.Fatalf("testregistry: unknown Auth %d", opts.Auth)
	}

	storage := filepath.Join(r.dir, "storage")
	if err := os.Mkdir(storage, 0o755); err != nil {
		t.Fatal(err)
	}
	// A port picked by listening on :0 and closing can be taken by
	// someone else before the registry binds it; try a few times.
	const attempts = 5
	for i := 1; ; i++ {
		port := freePort(t)
		r.backend = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		config := filepath.Join(r.dir, "config.yml")
		if err := os.WriteFile(config, []byte(registryConfig(storage, r.backend, auth)), 0o644); err != nil {
			t.Fatal(err)
		}
		err := r.startProcess(t, bin, config)
		if err == nil {
			break
		}
		if i < attempts && strings.Contains(r.output.String(), "address already in use") {
			continue
		}
		t.Fatalf("start %s: %v; its output:\n%s", Binary, err, r.output.String())
	}
	if front != nil {
		// Started now that the backend's address is known; until here
		// clients wait in the listen queue.
		r.serveFront(t, front)
	} else {
		r.Host = r.backend
	}
	return r
}

// registryConfig is distribution's configuration (its docs:
// configuration.md): filesystem storage, deletes allowed so tests may
// remove manifests, plain HTTP on 127.0.0.1, only errors logged.
func registryConfig(storage, addr, auth string) string {
	return `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ` + yamlString(storage) + `
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: ` + addr + `
  secret: minirun-test-http-secret
  headers:
    X-Content-Type-Options: [nosniff]
` + auth
}

// yamlString quotes s as a YAML double-quoted scalar; Go's escapes for
// the characters a path or a name holds are also YAML's.
func yamlString(s string) string { return strconv.Quote(s) }

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startProcess starts the registry and waits until GET /v2/ answers. On
// error the process is gone again.
func (r *Registry) startProcess(t testing.TB, bin, config string) error {
	r.output = &syncBuffer{}
	cmd := exec.Command(bin, "serve", config)
	cmd.Dir = r.dir
	cmd.Env = registryEnv()
	cmd.Stdout = r.output
	cmd.Stderr = r.output
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	r.cmd, r.exited, r.stop = cmd, exited, sync.Once{}

	client := &http.Client{Transport: localTransport(), Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("exited before answering: %v", cmd.ProcessState)
		default:
		}
		resp, err := client.Get("http://" + r.backend + "/v2/")
		if err == nil {
			resp.Body.Close()
			// 401 is the answer of a registry that wants credentials.
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				t.Cleanup(r.Stop)
				return nil
			}
			err = fmt.Errorf("GET /v2/: %s", resp.Status)
		}
		if time.Now().After(deadline) {
			r.Stop()
			return fmt.Errorf("no answer on %s within 15s: %w", r.backend, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// registryEnv is the test's environment without REGISTRY_* variables,
// which distribution reads as overrides of its configuration file.
func registryEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REGISTRY_") {
			env = append(env, kv)
		}
	}
	return env
}

// serveFront answers the token endpoint and passes everything else to the
// registry process, keeping the client's Host header so that the URLs the
// registry builds (upload locations) point back at the front.
func (r *Registry) serveFront(t testing.TB, l net.Listener) {
	backend := &url.URL{Scheme: "http", Host: r.backend}
	mux := http.NewServeMux()
	mux.Handle(TokenPath, r.tokens)
	mux.Handle("/", &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(backend)
			pr.Out.Host = pr.In.Host
		},
		Transport:     localTransport(),
		FlushInterval: -1,
		ErrorLog:      discardLog,
	})
	srv := &http.Server{Handler: mux, ErrorLog: discardLog}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
}

// Stop kills the registry process (and only it, by its pid) and waits for
// it. Start arranges for it to run when the test ends; tests may call it
// earlier to see how a client copes with a registry that went away (with
// AuthToken the front server stays and answers 502 Bad Gateway).
func (r *Registry) Stop() {
	r.stop.Do(func() {
		if r.cmd == nil || r.cmd.Process == nil {
			return
		}
		select {
		case <-r.exited:
			return
		default:
		}
		r.cmd.Process.Kill()
		<-r.exited
	})
}

// Output is what the registry process wrote so far (errors only).
func (r *Registry) Output() string { return r.output.String() }

// Dir is the registry's storage root (distribution's filesystem layout:
// docker/registry/v2/blobs/sha256/..., docker/registry/v2/repositories/...).
func (r *Registry) Dir() string { return filepath.Join(r.dir, "storage") }

// Ref is the reference of name (a repository with an optional ":tag" or
// "@digest") on this registry: "127.0.0.1:port/name".
func (r *Registry) Ref(name string) string { return r.Host + "/" + name }

// Authenticator is the credential a client needs: basic credentials for
// AuthBasic and AuthToken (the token flow exchanges them for a token),
// anonymous for AuthNone.
func (r *Registry) Authenticator() authn.Authenticator {
	if r.Auth == AuthNone {
		return authn.Anonymous
	}
	return &authn.Basic{Username: r.Username, Password: r.Password}
}

// RemoteOptions are the go-containerregistry options to talk to r: its
// credentials and a transport that never goes through a proxy.
func (r *Registry) RemoteOptions() []remote.Option {
	return []remote.Option{remote.WithAuth(r.Authenticator()), remote.WithTransport(localTransport())}
}

// TokenRequests lists the requests the token endpoint answered, in order;
// tests assert with it that the bearer flow happened. Nil unless AuthToken.
func (r *Registry) TokenRequests() []TokenRequest {
	if r.tokens == nil {
		return nil
	}
	return r.tokens.served()
}

// localTransport is an HTTP transport for 127.0.0.1 only: no proxy from
// the environment, no keep-alive pool shared with other tests.
func localTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	return tr
}

// writeHtpasswd writes user's htpasswd entry; distribution accepts
// bcrypt hashes only.
func writeHtpasswd(t testing.TB, file, user, password string) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(user+":"+string(hash)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer collects a child's output while tests read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	if b == nil {
		return ""
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
