//go:build !linux

package doctor

import (
	"errors"
	"fmt"
)

// Options say where Gather looks.
type Options struct {
	Store      string
	CgroupRoot string
}

// Diagnose has nothing to look at outside Linux: minirun's containers
// are made of Linux kernel objects. Check still works on given Inputs.
func Diagnose(o Options) []Finding {
	return []Finding{{Check: "platform", Status: Fail,
		Message: fmt.Sprintf("minirun runs containers on Linux only: %v", errors.ErrUnsupported)}}
}
