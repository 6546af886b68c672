package testregistry

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Push uploads img as ref ("127.0.0.1:port/name:tag") over plain HTTP,
// with auth (nil: anonymous).
func Push(t testing.TB, ref string, img v1.Image, auth authn.Authenticator) {
	t.Helper()
	r := parseRef(t, ref)
	if err := remote.Write(r, img, remoteOptions(auth)...); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

// PushIndex uploads an index and every image in it as ref.
func PushIndex(t testing.TB, ref string, idx v1.ImageIndex, auth authn.Authenticator) {
	t.Helper()
	r := parseRef(t, ref)
	if err := remote.WriteIndex(r, idx, remoteOptions(auth)...); err != nil {
		t.Fatalf("push index %s: %v", ref, err)
	}
}

// Push uploads img to r as name ("busybox", "busybox:1", "a/b:tag") with
// r's credentials and returns its reference.
func (r *Registry) Push(t testing.TB, name string, img v1.Image) string {
	t.Helper()
	ref := r.Ref(name)
	Push(t, ref, img, r.Authenticator())
	return ref
}

// PushIndex uploads idx (and its images) to r as name and returns its
// reference.
func (r *Registry) PushIndex(t testing.TB, name string, idx v1.ImageIndex) string {
	t.Helper()
	ref := r.Ref(name)
	PushIndex(t, ref, idx, r.Authenticator())
	return ref
}

// Delete removes the manifest ref from r (a tag or a digest reference;
// distribution deletes by digest only, so resolve a tag first), to see
// how a client copes with an image that went away.
func (r *Registry) Delete(t testing.TB, ref string) {
	t.Helper()
	pr := parseRef(t, ref)
	if tag, ok := pr.(name.Tag); ok {
		desc, err := remote.Head(tag, r.RemoteOptions()...)
		if err != nil {
			t.Fatalf("resolve %s: %v", ref, err)
		}
		pr = tag.Context().Digest(desc.Digest.String())
	}
	if err := remote.Delete(pr, r.RemoteOptions()...); err != nil {
		t.Fatalf("delete %s: %v", ref, err)
	}
}

func parseRef(t testing.TB, ref string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatalf("parse reference %q: %v", ref, err)
	}
	return r
}

func remoteOptions(auth authn.Authenticator) []remote.Option {
	if auth == nil {
		auth = authn.Anonymous
	}
	return []remote.Option{remote.WithAuth(auth), remote.WithTransport(localTransport())}
}
