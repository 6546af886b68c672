//go:build !linux

package devices

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Attach needs Linux: cgroups and BPF device programs exist nowhere else.
func Attach(cgroupDir string, rules []specs.LinuxDeviceCgroup) error {
	return fmt.Errorf("attach device program to %s: %w", cgroupDir, errors.ErrUnsupported)
}

// Detach needs Linux, like Attach.
func Detach(cgroupDir string) error {
	return fmt.Errorf("detach device program from %s: %w", cgroupDir, errors.ErrUnsupported)
}
