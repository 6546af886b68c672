package testregistry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TokenRequest is one request the token endpoint answered.
type TokenRequest struct {
	// Account is the basic-auth user name, empty for an anonymous request.
	Account string
	// Scopes are the "scope" query parameters as sent, e.g.
	// "repository:busybox:pull,push".
	Scopes []string
	// Status is the HTTP status of the answer: 200 with a token, 401 for
	// missing or wrong credentials.
	Status int
}

// tokenLifetime is how long an issued token is valid ("expires_in").
const tokenLifetime = 5 * time.Minute

// tokenIssuer is the authorization server of the token flow
// (https://distribution.github.io/distribution/spec/auth/token/): it checks
// basic credentials and answers with a JWT that distribution verifies
// (registry/auth/token/token.go): "iss" must be the configured issuer,
// "aud" the service, now within [nbf, exp] (with a minute of leeway), and
// the signing key must chain to the rootcertbundle. The key reaches the
// registry as the "x5c" certificate chain in the JWT header; the
// certificate is self-signed and is the bundle, so the chain is one long.
type tokenIssuer struct {
	user, password string
	anonymousPull  bool

	key  *ecdsa.PrivateKey
	cert []byte // DER

	mu       sync.Mutex
	requests []TokenRequest
}

func newTokenIssuer(t testing.TB, user, password string, anonymousPull bool) *tokenIssuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate token signing key: %v", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: TokenIssuer},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create token signing certificate: %v", err)
	}
	return &tokenIssuer{user: user, password: password, anonymousPull: anonymousPull, key: key, cert: cert}
}

func (ti *tokenIssuer) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ti.cert})
}

func (ti *tokenIssuer) served() []TokenRequest {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	out := make([]TokenRequest, len(ti.requests))
	copy(out, ti.requests)
	return out
}

// resourceActions is one entry of the token's "access" claim.
type resourceActions struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// ServeHTTP answers GET /token?service=S&scope=T:N:A[&scope=...]. The
// OAuth2 POST variant (docs: spec/auth/oauth.md) is not offered; clients
// fall back to GET on 404 or never use it without a refresh token.
func (ti *tokenIssuer) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	rec := TokenRequest{Scopes: req.URL.Query()["scope"]}
	status := ti.serve(w, req, &rec)
	rec.Status = status
	ti.mu.Lock()
	ti.requests = append(ti.requests, rec)
	ti.mu.Unlock()
}

func (ti *tokenIssuer) serve(w http.ResponseWriter, req *http.Request, rec *TokenRequest) int {
	if req.Method != http.MethodGet {
		http.Error(w, "only GET is offered", http.StatusNotFound)
		return http.StatusNotFound
	}
	if s := req.URL.Query().Get("service"); s != "" && s != TokenService {
		http.Error(w, fmt.Sprintf("unknown service %q", s), http.StatusBadRequest)
		return http.StatusBadRequest
	}
	user, password, hasBasic := req.BasicAuth()
	rec.Account = user
	authenticated := hasBasic &&
		subtle.ConstantTimeCompare([]byte(user), []byte(ti.user)) == 1 &&
		subtle.ConstantTimeCompare([]byte(password), []byte(ti.password)) == 1
	if !authenticated && (hasBasic || !ti.anonymousPull) {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+TokenIssuer+`"`)
		writeJSON(w, http.StatusUnauthorized, map[string]any{"errors": []map[string]string{{
			"code": "UNAUTHORIZED", "message": "authentication required"}}})
		return http.StatusUnauthorized
	}

	access := []resourceActions{}
	for _, scope := range rec.Scopes {
		// Scopes may come space-separated in one parameter (the OAuth2
		// form) or as repeated parameters.
		for _, s := range strings.Fields(scope) {
			ra, ok := parseScope(s)
			if !ok {
				continue
			}
			ra.Actions = grant(ra.Actions, authenticated)
			if len(ra.Actions) > 0 {
				access = append(access, ra)
			}
		}
	}

	now := time.Now()
	jti := make([]byte, 16)
	rand.Read(jti)
	claims := map[string]any{
		"iss":    TokenIssuer,
		"sub":    user,
		"aud":    TokenService,
		"exp":    now.Add(tokenLifetime).Unix(),
		"nbf":    now.Add(-time.Second).Unix(),
		"iat":    now.Unix(),
		"jti":    hex.EncodeToString(jti),
		"access": access,
	}
	token, err := ti.sign(claims)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return http.StatusInternalServerError
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"token":        token,
		"access_token": token,
		"expires_in":   int(tokenLifetime / time.Second),
		"issued_at":    now.UTC().Format(time.RFC3339),
	})
	return http.StatusOK
}

// parseScope splits "repository:name:pull,push". The name may itself hold
// colons (a registry host with a port, in some clients), so the type ends
// at the first colon and the actions start after the last.
func parseScope(s string) (resourceActions, bool) {
	i, j := strings.Index(s, ":"), strings.LastIndex(s, ":")
	if i < 0 || i == j {
		return resourceActions{}, false
	}
	return resourceActions{Type: s[:i], Name: s[i+1 : j], Actions: strings.Split(s[j+1:], ",")}, true
}

// grant is what a client gets of the actions it asked for: everything when
// authenticated, "pull" alone when anonymous.
func grant(asked []string, authenticated bool) []string {
	var out []string
	for _, a := range asked {
		if authenticated || a == "pull" {
			out = append(out, a)
		}
	}
	return out
}

// sign makes a compact JWS with ES256 (RFC 7515, RFC 7518 section 3.4: the
// signature is r and s, each 32 bytes big-endian).
func (ti *tokenIssuer) sign(claims any) (string, error) {
	header, err := json.Marshal(map[string]any{
		"typ": "JWT",
		"alg": "ES256",
		"x5c": []string{base64.StdEncoding.EncodeToString(ti.cert)},
	})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	digest := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, ti.key, digest[:])
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signed + "." + enc.EncodeToString(sig), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
