package image

import (
	"errors"
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// ErrBadReference is returned for a name that is not an image reference.
var ErrBadReference = errors.New("invalid image reference")

// Reference is an image name as Docker users write it, normalized:
// "alpine" is docker.io/library/alpine:latest.
type Reference struct {
	named reference.Named
}

// ParseReference normalizes s the way docker does: a missing registry is
// docker.io, a missing namespace on Docker Hub is library/, a missing tag
// is latest (unless a digest is given).
func ParseReference(s string) (Reference, error) {
	n, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return Reference{}, fmt.Errorf("%w %q: %v", ErrBadReference, s, err)
	}
	// A first component with a dot is taken for a registry host even
	// when it cannot be one ("foo_bar.com/x"); the parser then leaves the
	// domain empty, and the name would be pulled from no registry.
	if reference.Domain(n) == "" {
		return Reference{}, fmt.Errorf("%w %q: %q is not a registry host name", ErrBadReference, s, strings.SplitN(s, "/", 2)[0])
	}
	// The parser takes any digest algorithm Go links (sha512 among
	// them); the store holds sha256 content only.
	if d, ok := n.(reference.Digested); ok {
		if err := checkDigest(d.Digest()); err != nil {
			return Reference{}, fmt.Errorf("%w %q: %v", ErrBadReference, s, err)
		}
	}
	return Reference{named: reference.TagNameOnly(n)}, nil
}

// String is the full name, the one kept in the store's index.json:
// docker.io/library/alpine:latest, host:5000/r@sha256:...
func (r Reference) String() string { return r.named.String() }

// Familiar is the short form docker prints: alpine:latest. Where the
// short form would name another image, it is the full name: the short
// form drops docker.io/ even when what is left starts with a component
// that reads as a registry host ("docker.io/a.b/c" would print as "a.b/c",
// an image of the registry a.b).
func (r Reference) Familiar() string {
	f := reference.FamiliarString(r.named)
	if n, err := reference.ParseNormalizedNamed(f); err == nil && reference.TagNameOnly(n).String() == r.String() {
		return f
	}
	return r.String()
}

// Domain is the registry host: docker.io, ghcr.io, 127.0.0.1:5000.
func (r Reference) Domain() string { return reference.Domain(r.named) }

// Repository is the name without tag or digest:
// docker.io/library/alpine.
func (r Reference) Repository() string { return r.named.Name() }

// Tag is the tag, "" for a reference by digest only.
func (r Reference) Tag() string {
	if t, ok := r.named.(reference.Tagged); ok {
		return t.Tag()
	}
	return ""
}

// Digest is the manifest digest a reference pins, "" when it has none.
func (r Reference) Digest() digest.Digest {
	if d, ok := r.named.(reference.Digested); ok {
		return d.Digest()
	}
	return ""
}

// looksLikeID reports whether s can only be an image ID or its prefix
// (hex, like docker's short IDs), not a name to pull.
func looksLikeID(s string) bool {
	s = strings.TrimPrefix(s, "sha256:")
	if len(s) < 4 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// familiarRepo is the repository as docker shows it: alpine, not
// docker.io/library/alpine; the full name where the short one would name
// another (see Familiar).
func familiarRepo(r Reference) string {
	f := reference.FamiliarName(r.named)
	if n, err := reference.ParseNormalizedNamed(f); err == nil && n.Name() == r.Repository() {
		return f
	}
	return r.Repository()
}
