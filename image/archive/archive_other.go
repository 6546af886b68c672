//go:build !linux

package archive

import (
	"errors"
	"fmt"
	"io"
)

// Apply needs openat2(2), Linux's, to keep every entry inside dir; the
// rest of the package (Decompress) works everywhere.

// Apply is not supported outside Linux.
func Apply(dir string, r io.Reader, opts Options) (Stats, error) {
	return Stats{}, fmt.Errorf("apply layer: %w", errors.ErrUnsupported)
}
