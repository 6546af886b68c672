package devices

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// progName is the kernel-side name of every program Attach loads (at
// most 15 characters). It is how Attach and Detach tell minirun's
// programs from any other on the same cgroup, which they leave alone;
// `bpftool cgroup tree` shows it too.
const progName = "minirun_devices"

// Attach compiles rules (see Program) and attaches the program to the
// cgroup v2 directory cgroupDir, replacing the one an earlier Attach put
// there. From then on the kernel checks every open(2) and mknod(2) of a
// device node by a process in the cgroup, or in any cgroup below it,
// against the rules.
//
// Call it after the directory exists and before any process of the
// container is in it. Calling it again (minirun update) swaps the
// program: atomically with BPF_F_REPLACE (Linux 5.6), else by attaching
// the new program before detaching the old, so that in between both run
// and only what both allow is allowed. Nothing needs to be undone when
// the container ends: removing the cgroup releases its programs.
//
// The program is attached with BPF_PROG_ATTACH and BPF_F_ALLOW_MULTI,
// not as a bpf_link: a link lives only as long as its file descriptor
// (or a pin in bpffs), and minirun exits long before its containers do;
// a program attachment belongs to the cgroup. ALLOW_MULTI means the
// programs of a cgroup and of all its ancestors run, and all must allow,
// so a process that can attach programs to a cgroup below this one still
// cannot widen what these rules allow.
func Attach(cgroupDir string, rules []specs.LinuxDeviceCgroup) error {
	insns, _, err := Program(rules)
	if err != nil {
		return err
	}
	dir, err := openCgroup2(cgroupDir)
	if err != nil {
		return err
	}
	defer dir.Close()
	prog, err := load(insns)
	if err != nil {
		return fmt.Errorf("load device program for %s: %w", cgroupDir, err)
	}
	defer prog.Close()
	old, err := ours(dir)
	if err != nil {
		return fmt.Errorf("query device programs of %s: %w", cgroupDir, err)
	}
	defer closeAll(old)
	if err := attach(dir, prog, old, true); err != nil {
		return fmt.Errorf("attach device program to %s: %w", cgroupDir, err)
	}
	return nil
}

// Detach removes the programs Attach attached to cgroupDir, so that the
// rules no longer apply there (the ancestors' programs still do).
// Programs attached by anything else stay. There is no need to call it
// before removing the cgroup.
func Detach(cgroupDir string) error {
	dir, err := openCgroup2(cgroupDir)
	if err != nil {
		return err
	}
	defer dir.Close()
	old, err := ours(dir)
	if err != nil {
		return fmt.Errorf("query device programs of %s: %w", cgroupDir, err)
	}
	defer closeAll(old)
	for _, p := range old {
		if err := detach(dir, p); err != nil {
			return fmt.Errorf("detach device program from %s: %w", cgroupDir, err)
		}
	}
	return nil
}

// openCgroup2 opens dir and makes sure it is a cgroup v2 directory: on a
// v1 or hybrid hierarchy a directory of the devices controller (or of no
// cgroup at all) would take no program.
func openCgroup2(dir string) (*os.File, error) {
	f, err := os.OpenFile(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, &os.PathError{Op: "statfs", Path: dir, Err: err}
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		f.Close()
		return nil, fmt.Errorf("attach device program to %s: not a cgroup v2 directory (filesystem magic %#x)", dir, st.Type)
	}
	return f, nil
}

// load hands insns to the verifier. The program declares no license:
// the kernel reads it only to decide whether GPL-only helpers may be
// called, and this program calls no helper at all.
//
// Kernels before 5.11 charge BPF programs to RLIMIT_MEMLOCK rather than
// to the memory cgroup; minirun does not raise that limit for itself,
// because the container's process would inherit it.
//
// The rule comments Program puts on its instructions are dropped first:
// cilium/ebpf would pass them to the kernel as BTF line info, which the
// kernel wants for every function's first instruction, and which the
// kernel has no use for here.
func load(insns asm.Instructions) (*ebpf.Program, error) {
	plain := make(asm.Instructions, len(insns))
	for i, ins := range insns {
		plain[i] = ins.WithSource(nil)
	}
	return ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         progName,
		Type:         ebpf.CGroupDevice,
		Instructions: plain,
	})
}

// ours returns the programs attached directly to dir (not those it
// inherits) that minirun loaded, found by name.
func ours(dir *os.File) ([]*ebpf.Program, error) {
	res, err := link.QueryPrograms(link.QueryOptions{
		Target: int(dir.Fd()),
		Attach: ebpf.AttachCGroupDevice,
	})
	if err != nil {
		return nil, err
	}
	var progs []*ebpf.Program
	for _, ap := range res.Programs {
		p, err := ebpf.NewProgramFromID(ap.ID)
		if errors.Is(err, os.ErrNotExist) {
			continue // detached and freed since the query
		}
		if err != nil {
			closeAll(progs)
			return nil, err
		}
		info, err := p.Info()
		if err != nil {
			p.Close()
			closeAll(progs)
			return nil, err
		}
		if info.Name != progName {
			p.Close()
			continue
		}
		progs = append(progs, p)
	}
	return progs, nil
}

// attach puts prog on dir in place of old. With replace and exactly one
// old program it asks the kernel for an atomic swap, and falls back to
// attach-then-detach on a kernel that does not know BPF_F_REPLACE.
func attach(dir *os.File, prog *ebpf.Program, old []*ebpf.Program, replace bool) error {
	opts := link.RawAttachProgramOptions{
		Target:  int(dir.Fd()),
		Program: prog,
		Attach:  ebpf.AttachCGroupDevice,
		Flags:   unix.BPF_F_ALLOW_MULTI,
	}
	if replace && len(old) == 1 {
		atomic := opts
		atomic.Anchor = link.ReplaceProgram(old[0])
		err := link.RawAttachProgram(atomic)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINVAL) {
			return err
		}
	}
	if err := link.RawAttachProgram(opts); err != nil {
		return err
	}
	for _, p := range old {
		if err := detach(dir, p); err != nil {
			return err
		}
	}
	return nil
}

func detach(dir *os.File, prog *ebpf.Program) error {
	err := link.RawDetachProgram(link.RawDetachProgramOptions{
		Target:  int(dir.Fd()),
		Program: prog,
		Attach:  ebpf.AttachCGroupDevice,
	})
	if errors.Is(err, unix.ENOENT) {
		return nil // no longer attached: someone else already detached it
	}
	return err
}

func closeAll(progs []*ebpf.Program) {
	for _, p := range progs {
		p.Close()
	}
}
