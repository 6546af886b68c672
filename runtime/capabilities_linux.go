package runtime

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/minirun/minirun/runtime/spec"
	"golang.org/x/sys/unix"
)

// lastCap is the highest capability number the running kernel knows.
func lastCap() int {
	data, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 40
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 40
	}
	return n
}

// readCaps returns the calling thread's capability sets.
func readCaps() (capSets, error) {
	var s capSets
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return s, os.NewSyscallError("capget", err)
	}
	s.Effective = uint64(data[0].Effective) | uint64(data[1].Effective)<<32
	s.Permitted = uint64(data[0].Permitted) | uint64(data[1].Permitted)<<32
	s.Inheritable = uint64(data[0].Inheritable) | uint64(data[1].Inheritable)<<32
	for i := 0; i <= lastCap(); i++ {
		if on, _ := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(i), 0, 0, 0); on == 1 {
			s.Bounding |= 1 << uint(i)
		}
		if on, _ := unix.PrctlRetInt(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_IS_SET, uintptr(i), 0, 0); on == 1 {
			s.Ambient |= 1 << uint(i)
		}
	}
	return s, nil
}

// dropBounding removes from the bounding set every capability not in keep.
// It needs CAP_SETPCAP, so it must happen while init is still root with
// all capabilities, before the user switch.
func dropBounding(keep uint64) error {
	for i := 0; i <= lastCap(); i++ {
		if keep&(1<<uint(i)) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(i), 0, 0, 0); err != nil {
			return fmt.Errorf("prctl(PR_CAPBSET_DROP, %d): %w", i, err)
		}
	}
	return nil
}

// setCaps sets the effective, permitted and inheritable sets of the calling
// thread with capset(2), then raises the ambient ones. Ambient capabilities
// must be in both permitted and inheritable, so they come last; those that
// are not are skipped and returned, as runc skips them (its own default
// spec asks for ambient capabilities it leaves out of inheritable).
func setCaps(s capSets) (skipped uint64, err error) {
	limit := uint64(1)<<uint(lastCap()+1) - 1
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	for i, v := range [3]uint64{s.Effective & limit, s.Permitted & limit, s.Inheritable & limit} {
		lo, hi := uint32(v), uint32(v>>32)
		switch i {
		case 0:
			data[0].Effective, data[1].Effective = lo, hi
		case 1:
			data[0].Permitted, data[1].Permitted = lo, hi
		case 2:
			data[0].Inheritable, data[1].Inheritable = lo, hi
		}
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return 0, os.NewSyscallError("capset", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return 0, fmt.Errorf("prctl(PR_CAP_AMBIENT_CLEAR_ALL): %w", err)
	}
	for i := 0; i <= lastCap(); i++ {
		bit := uint64(1) << uint(i)
		if s.Ambient&bit == 0 {
			continue
		}
		if s.Permitted&s.Inheritable&bit == 0 {
			skipped |= bit
			continue
		}
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(i), 0, 0); err != nil {
			return 0, fmt.Errorf("raise ambient capability %d: %w", i, err)
		}
	}
	return skipped, nil
}

// BoundingSet names the capabilities in the calling thread's bounding set:
// all that a process started by minirun can ever be given. Nil when it
// cannot be read.
func BoundingSet() []string {
	s, err := readCaps()
	if err != nil {
		return nil
	}
	var names []string
	for i, n := range spec.CapabilityNames {
		if s.Bounding&(1<<uint(i)) != 0 {
			names = append(names, n)
		}
	}
	return names
}
