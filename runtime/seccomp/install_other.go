//go:build !linux

package seccomp

import (
	"errors"
	"fmt"
)

// Install needs Linux's seccomp(2).
func (p *Program) Install() error {
	return fmt.Errorf("install seccomp filter: %w", errors.ErrUnsupported)
}
