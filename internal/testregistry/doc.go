// Package testregistry gives image pull tests a real registry to talk to:
// the distribution registry (CNCF Distribution, the registry that the OCI
// distribution spec grew out of) run as a child process on 127.0.0.1, images built in Go to push into it, and a proxy
// that counts requests and damages downloads.
//
// It is for tests only (package image and the black-box suite in test/),
// and it lives under internal/ because both need the same registry and the
// same images. A test of a single protocol rule (how a challenge header is
// parsed, how a 404 body is read) is better served by an httptest handler
// that answers exactly that; this package is for the whole conversation,
// against a server whose behaviour nobody here wrote.
//
// # The registry
//
// Start writes distribution's configuration into t.TempDir() (filesystem
// storage there, deletes enabled, plain HTTP on a free port of 127.0.0.1,
// errors only in the log), runs "docker-registry serve CONFIG", polls
// GET /v2/ until it answers, and kills the process, by its pid, when the
// test ends. Without the binary (Debian package docker-registry) the test
// skips, or fails when MINIRUN_REQUIRE_ROOT=1 (see internal/testenv).
// Nothing is ever sent beyond 127.0.0.1.
//
// With Options.Auth the registry wants credentials. AuthBasic is HTTP
// basic authentication against an htpasswd file. AuthToken is the token
// flow of the distribution spec. A request without a token gets
//
//	401 WWW-Authenticate: Bearer realm="http://HOST/token",service="...",scope="repository:NAME:pull"
//
// The client then asks the realm, GET /token?service=...&scope=..., with
// its basic credentials or anonymously, and gets a JSON Web Token whose
// "access" claim lists the actions granted; it repeats the request with
// "Authorization: Bearer TOKEN". The registry trusts the token because it
// is signed (ES256) by a key whose certificate, carried in the token's
// "x5c" header, chains to the configured rootcertbundle, and because
// "iss", "aud", "nbf" and "exp" are what it expects. Here the token
// endpoint is a Go handler sharing the registry's host and port (a front
// server passes everything else to the process), since clients refuse a
// realm on another loopback port. Registry.TokenRequests shows the flow
// happened.
//
// # The proxy
//
// Registry.Proxy puts an HTTP proxy on another port in front of the
// registry. It records every request (Proxy.Requests, Proxy.Count), so a
// test can assert that a cached image cost one HEAD of its manifest and
// that each blob was fetched once; and its Fault flips a byte of a blob
// (the client must notice the digest mismatch), cuts a blob download short
// (an interrupted transfer), or answers with an error status.
//
// # The images
//
// NewImage builds an image from lists of tar entries (File) with
// go-containerregistry, in OCI or Docker schema 2 media types, with gzip,
// zstd or uncompressed layers, reproducibly (fixed times, so the same input
// has the same digests). Every built Image knows its layers' digests and
// diff IDs (what a store holds) and its merged file tree, Image.Tree, after
// the whiteout rules of the OCI image spec, so a test can compare an
// unpacked root file system entry by entry. Ready-made: Busybox (runnable,
// with the host's static busybox), MultiLayer (whiteouts, an opaque
// directory, links, setuid, owners), ManyLayers, MultiPlatform and
// ForeignIndex (image indexes), and BenchImage (about 150 MiB, cached on
// disk between runs).
//
// # References
//
//   - OCI distribution spec: https://github.com/opencontainers/distribution-spec/blob/main/spec.md
//   - Token authentication: https://distribution.github.io/distribution/spec/auth/token/
//     and its JWT format: https://distribution.github.io/distribution/spec/auth/jwt/
//   - Registry configuration: https://distribution.github.io/distribution/about/configuration/
//   - OCI image spec, layers and whiteouts: https://github.com/opencontainers/image-spec/blob/main/layer.md
//   - OCI image index: https://github.com/opencontainers/image-spec/blob/main/image-index.md
//   - Docker image manifest v2 schema 2: https://distribution.github.io/distribution/spec/manifest-v2-2/
package testregistry
