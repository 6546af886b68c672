package testregistry

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// FaultKind is what a Proxy does to the blob GETs a Fault selects.
type FaultKind int

const (
	// PassThrough changes nothing; the proxy only records requests.
	PassThrough FaultKind = iota
	// FlipByte inverts the bits of one byte of the blob's body, so the
	// body no longer matches its digest (length unchanged).
	FlipByte
	// Truncate sends Offset bytes of the body and then drops the
	// connection, as an interrupted download would; the response's
	// Content-Length still announces the whole blob.
	Truncate
	// FailStatus answers with Status instead of asking the registry.
	FailStatus
)

// Fault selects the blob GETs a Proxy damages, and how.
type Fault struct {
	Kind FaultKind
	// Digest is the blob to damage ("sha256:..."). Empty: the first blob
	// fetched whose size (Content-Length) exceeds MinSize; later GETs of
	// that same blob are damaged too (see Times). Config blobs are blobs:
	// use MinSize or Digest to pass them over.
	Digest  string
	MinSize int64
	// Offset is, for FlipByte, the index of the byte to flip, counted from
	// the end when negative (-1 is the last byte; on an uncompressed layer
	// that is tar padding, so only the digest can tell); for Truncate, the
	// number of body bytes sent before the connection is cut.
	// Flipping byte 0 of a gzip or zstd blob breaks its magic number, so a
	// decompressor notices before the digest does.
	Offset int64
	// Status is the answer of FailStatus (e.g. 503). FailStatus answers
	// before the registry could tell a size, so it ignores MinSize: give
	// it a Digest, or it hits the first blob fetched.
	Status int
	// Times is how many responses to damage; 0 means all that match.
	Times int
}

// Request is one request the proxy forwarded (or answered itself).
type Request struct {
	Method string // "GET", "HEAD", ...
	Path   string // URL path, e.g. "/v2/busybox/blobs/sha256:..."
	Range  string // the Range header, if any ("bytes=1000-" on a resume)
	Status int    // status of the answer; 0 if none came
}

// Proxy is an HTTP proxy in front of a Registry that records every request
// and damages the blob downloads its Fault selects.
type Proxy struct {
	// Host is "127.0.0.1:port"; use it in references instead of the
	// registry's Host.
	Host string

	fault    Fault
	upstream string

	mu       sync.Mutex
	requests []Request
	target   string // the digest damaged, once known
	faulted  int
}

// blobPath matches a blob fetch: /v2/<name>/blobs/<digest>. Uploads go to
// /v2/<name>/blobs/uploads/ and do not match.
var blobPath = regexp.MustCompile(`^/v2/(.+)/blobs/([a-z0-9]+:[a-f0-9]+)$`)

// Proxy starts a proxy for r on another port of 127.0.0.1 and stops it
// when t ends. Token challenges are rewritten to point at the proxy, so
// the whole conversation, token requests included, passes through it.
func (r *Registry) Proxy(t testing.TB, f Fault) *Proxy {
	t.Helper()
	p := &Proxy{fault: f, upstream: r.Host}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: "http", Host: p.upstream})
			// Keep the Host the client used: the registry builds upload
			// locations from it, and they must lead back here.
			pr.Out.Host = pr.In.Host
		},
		Transport: localTransport(),
		// Every write is flushed at once, so that Truncate sends exactly
		// Offset bytes before the cut.
		FlushInterval:  -1,
		ModifyResponse: p.modifyResponse,
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			if i, ok := indexFrom(req.Context()); ok {
				p.setStatus(i, http.StatusBadGateway)
			}
			http.Error(w, err.Error(), http.StatusBadGateway)
		},
		ErrorLog: discardLog,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		i := p.record(req)
		if p.fault.Kind == FailStatus && req.Method == http.MethodGet {
			if m := blobPath.FindStringSubmatch(req.URL.Path); m != nil && p.take(m[2], -1) {
				p.setStatus(i, p.fault.Status)
				http.Error(w, http.StatusText(p.fault.Status), p.fault.Status)
				return
			}
		}
		rp.ServeHTTP(w, req.WithContext(withIndex(req.Context(), i)))
	}))
	srv.Config.ErrorLog = discardLog
	t.Cleanup(srv.Close)
	p.Host = strings.TrimPrefix(srv.URL, "http://")
	return p
}

// Ref is the reference of name through the proxy.
func (p *Proxy) Ref(name string) string { return p.Host + "/" + name }

// Requests returns the requests seen so far, in the order they arrived.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Request, len(p.requests))
	copy(out, p.requests)
	return out
}

// Count is how many requests with method had a path ending in suffix
// (e.g. Count("GET", "/blobs/"+digest)).
func (p *Proxy) Count(method, suffix string) int {
	n := 0
	for _, r := range p.Requests() {
		if r.Method == method && strings.HasSuffix(r.Path, suffix) {
			n++
		}
	}
	return n
}

// Reset forgets the requests recorded so far (the fault's state stays).
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = nil
}

// Faulted is the digest of the blob the fault hit and how many responses
// it damaged; "" and 0 if it has not struck.
func (p *Proxy) Faulted() (digest string, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.target, p.faulted
}

func (p *Proxy) record(req *http.Request) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = append(p.requests, Request{Method: req.Method, Path: req.URL.Path, Range: req.Header.Get("Range")})
	return len(p.requests) - 1
}

func (p *Proxy) setStatus(i, status int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Reset may have dropped the entry in the meantime.
	if i < len(p.requests) && p.requests[i].Status == 0 {
		p.requests[i].Status = status
	}
}

// take reports whether the blob digest, of size bytes (-1: unknown), is to
// be damaged now, and counts it.
func (p *Proxy) take(digest string, size int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.fault
	if p.target == "" {
		switch {
		case f.Digest != "" && digest == f.Digest:
		case f.Digest == "" && (f.MinSize <= 0 || size < 0 || size > f.MinSize):
		default:
			return false
		}
		p.target = digest
	}
	if digest != p.target || (f.Times > 0 && p.faulted >= f.Times) {
		return false
	}
	p.faulted++
	return true
}

func (p *Proxy) modifyResponse(resp *http.Response) error {
	req := resp.Request
	if i, ok := indexFrom(req.Context()); ok {
		p.setStatus(i, resp.StatusCode)
	}
	// The token realm names the registry's host; point it here instead,
	// or the client would fetch tokens around the proxy (and clients
	// refuse a loopback realm on another port anyway).
	if vs := resp.Header.Values("WWW-Authenticate"); len(vs) > 0 {
		resp.Header.Del("WWW-Authenticate")
		for _, v := range vs {
			resp.Header.Add("WWW-Authenticate", strings.ReplaceAll(v, "http://"+p.upstream+"/", "http://"+req.Host+"/"))
		}
	}

	if p.fault.Kind != FlipByte && p.fault.Kind != Truncate {
		return nil
	}
	if req.Method != http.MethodGet || (resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent) {
		return nil
	}
	m := blobPath.FindStringSubmatch(req.URL.Path)
	if m == nil || !p.take(m[2], resp.ContentLength) {
		return nil
	}
	switch p.fault.Kind {
	case FlipByte:
		at := p.fault.Offset
		if at < 0 {
			at += resp.ContentLength
		}
		if resp.ContentLength > 0 {
			at = max(0, min(at, resp.ContentLength-1))
		}
		resp.Body = &flipReader{rc: resp.Body, at: at}
	case Truncate:
		resp.Body = &truncReader{rc: resp.Body, left: p.fault.Offset}
	}
	return nil
}

// indexKey carries a request's index in Proxy.requests from the handler
// to modifyResponse.
type indexKey struct{}

func withIndex(ctx context.Context, i int) context.Context {
	return context.WithValue(ctx, indexKey{}, i)
}

func indexFrom(ctx context.Context) (int, bool) {
	i, ok := ctx.Value(indexKey{}).(int)
	return i, ok
}

// flipReader inverts byte at of the stream.
type flipReader struct {
	rc  io.ReadCloser
	pos int64
	at  int64
}

func (f *flipReader) Read(b []byte) (int, error) {
	n, err := f.rc.Read(b)
	if f.at >= f.pos && f.at < f.pos+int64(n) {
		b[f.at-f.pos] ^= 0xff
	}
	f.pos += int64(n)
	return n, err
}

func (f *flipReader) Close() error { return f.rc.Close() }

// errTruncated makes the reverse proxy abort the response, which closes
// the client's connection mid-body.
var errTruncated = errors.New("testregistry: body truncated on purpose")

type truncReader struct {
	rc   io.ReadCloser
	left int64
}

func (t *truncReader) Read(b []byte) (int, error) {
	if t.left <= 0 {
		return 0, errTruncated
	}
	if int64(len(b)) > t.left {
		b = b[:t.left]
	}
	n, err := t.rc.Read(b)
	t.left -= int64(n)
	return n, err
}

func (t *truncReader) Close() error { return t.rc.Close() }

// discardLog silences the HTTP servers and proxies: an aborted copy is
// what Truncate is for, not news.
var discardLog = log.New(io.Discard, "", 0)
