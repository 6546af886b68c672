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
	return Reference{named: reference.TagNameOnly(n)}, nil
}

// String is the full name, the one kept in the store's index.json:
// docker.io/library/alpine:latest, host:5000/r@sha256:...
func (r Reference) String() string { return r.named.String() }

// Familiar is the short form docker prints: alpine:latest.
func (r Reference) Familiar() string { return reference.FamiliarString(r.named) }

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
// docker.io/library/alpine.
func familiarRepo(r Reference) string {
	return reference.FamiliarName(r.named)
}
