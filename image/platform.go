package image

import (
	"fmt"
	"regexp"
	goruntime "runtime"
	"runtime/debug"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ParsePlatform reads os/arch[/variant], as --platform takes it.
func ParsePlatform(s string) (ocispec.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || slices.ContainsFunc(parts, func(p string) bool { return !platformWord.MatchString(p) }) {
		return ocispec.Platform{}, fmt.Errorf("invalid platform %q: want os/arch[/variant]", s)
	}
	p := ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return normalizePlatform(p), nil
}

// platformWord is the shape of an os, architecture or variant: GOOS and
// GOARCH values and the variants of the OCI image index ("v8").
var platformWord = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// HostPlatform is the platform minirun was built for, which is the one it
// runs on: GOOS/GOARCH, and for 32-bit ARM the GOARM it was built with.
func HostPlatform() ocispec.Platform {
	p := ocispec.Platform{OS: goruntime.GOOS, Architecture: goruntime.GOARCH}
	if p.Architecture == "arm" {
		p.Variant = "v7"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "GOARM" && s.Value != "" {
					p.Variant = "v" + strings.TrimSuffix(strings.TrimSuffix(s.Value, ",softfloat"), ",hardfloat")
				}
			}
		}
	}
	return normalizePlatform(p)
}

// normalizePlatform applies the index conventions: arm64 without a variant
// is v8.
func normalizePlatform(p ocispec.Platform) ocispec.Platform {
	if p.Architecture == "arm64" && p.Variant == "" {
		p.Variant = "v8"
	}
	return p
}

func platformString(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// shownPlatform is p for an error line: as is when it is made of short
// plain words, else quoted and cut, so that neither an index nor a
// --platform value can make the error long or span lines.
func shownPlatform(p ocispec.Platform) string {
	s := platformString(p)
	if len(s) > 40 || !platformWord.MatchString(strings.ReplaceAll(s, "/", "")) {
		return quoteCut(s, 40)
	}
	return s
}

// matchPlatform picks from an index's manifests the one for want: os and
// architecture must be equal, and the variant too (arm64's "" being v8).
// If none matches, the error lists what the index offers.
func matchPlatform(want ocispec.Platform, ms []ocispec.Descriptor) (ocispec.Descriptor, error) {
	var offered []string
	seen := map[string]bool{}
	for _, m := range ms {
		if m.Platform == nil {
			continue
		}
		have := normalizePlatform(*m.Platform)
		if have.OS == "unknown" { // attestation manifests of buildkit
			continue
		}
		if have.OS == want.OS && have.Architecture == want.Architecture &&
			(want.Variant == "" || have.Variant == want.Variant) {
			return m, nil
		}
		// The index is the registry's: its strings are shown quoted
		// where they are not plain words, and only so many of them, so
		// that the error stays one line.
		p := shownPlatform(have)
		if !seen[p] {
			seen[p] = true
			offered = append(offered, p)
		}
	}
	if len(offered) == 0 {
		return ocispec.Descriptor{}, fmt.Errorf("no manifest for platform %s: the index names no platforms", shownPlatform(want))
	}
	const show = 8
	list := strings.Join(offered[:min(show, len(offered))], ", ")
	if len(offered) > show {
		list += fmt.Sprintf(" and %d more", len(offered)-show)
	}
	return ocispec.Descriptor{}, fmt.Errorf("no manifest for platform %s in the index; it offers %s", shownPlatform(want), list)
}
