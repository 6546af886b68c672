package test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	tr "github.com/minirun/minirun/internal/testregistry"
	"github.com/minirun/minirun/runtime/spec"
)

// Tests of seccomp: the default profile of image runs, seen from inside
// (the probe's `syscall` mode prints the errno of one call, so that the
// filter's EPERM is told from the kernel's own refusals),
// --security-opt seccomp=unconfined|FILE, --privileged, and profiles in a
// bundle's config.json, docker's and podman's among them.

// cProgram is a static C program built for the seccomp image when gcc can
// link one: a thread (glibc's pthread_create tries clone3 first) and a
// fork, the calls a C program makes that a filter could break.
const cProgram = `#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *run(void *arg) { return arg; }

int main(void) {
	pthread_t t;
	int rc = pthread_create(&t, NULL, run, NULL);
	if (rc != 0) {
		fprintf(stderr, "pthread_create: %s\n", strerror(rc));
		return 1;
	}
	pthread_join(t, NULL);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0)
		_exit(7);
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 7) {
		fprintf(stderr, "child: status %#x\n", st);
		return 1;
	}
	puts("static C: thread and fork ok");
	return 0;
}
`

// buildStaticC compiles cProgram with gcc -static, or returns nil when
// there is no gcc or no static libc to link with (the test VM has
// neither; busybox, a static C program too, runs there).
func buildStaticC(t *testing.T) []byte {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Log("no gcc: busybox is the static C program")
		return nil
	}
	dir := t.TempDir()
	src, bin := filepath.Join(dir, "c.c"), filepath.Join(dir, "cstatic")
	if err := os.WriteFile(src, []byte(cProgram), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runCmd(gcc, "-static", "-pthread", "-O2", "-o", bin, src); err != nil {
		t.Logf("gcc -static failed, busybox is the static C program: %v\n%s", err, out)
		return nil
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newSeccompEnv is newCtrEnv with an image that also holds the probe at
// /probe and, when it could be built, the static C program at /cstatic.
func newSeccompEnv(t *testing.T) (e *ctrEnv, hasC bool) {
	t.Helper()
	requireMinirun(t)
	stateFor(t)
	probe, err := os.ReadFile(filepath.Join(rootfsPath, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	extra := []tr.File{{Path: "probe", Mode: 0o755, Data: probe}}
	if c := buildStaticC(t); c != nil {
		extra = append(extra, tr.File{Path: "cstatic", Mode: 0o755, Data: c})
		hasC = true
	}
	reg := tr.Start(t, tr.Options{})
	e = &ctrEnv{t: t, store: t.TempDir()}
	e.seen = watchContainers(t, filepath.Join(e.store, "containers"))
	layers := append(tr.BusyboxLayers(t), extra)
	e.ref = reg.Push(t, "seccomp:v1", tr.NewImage(t, layers, tr.BusyboxConfig, tr.BuildOptions{}).Image)
	if r := e.rt("pull", "-q", e.ref); r.code != 0 {
		t.Fatalf("pull: %v", r)
	}
	t.Cleanup(e.removeAll)
	return e, hasC
}

// seccompCase is one run of the seccomp image: flags before the image,
// then the command; the run must exit with code and print want (trimmed;
// with prefix "~", containing it).
type seccompCase struct {
	name  string
	flags []string
	args  []string
	code  int
	want  string
}

func (e *ctrEnv) runSeccompCases(t *testing.T, cases []seccompCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			args := append(append([]string{"run", "--rm", "--network", "none"}, tc.flags...), e.ref)
			r := e.rt(append(args, tc.args...)...)
			out := strings.TrimSpace(r.stdout)
			ok := out == tc.want
			if w, found := strings.CutPrefix(tc.want, "~"); found {
				ok = strings.Contains(out, w)
			}
			if r.code != tc.code || !ok {
				t.Errorf("%v\nwant exit %d and %q", r, tc.code, tc.want)
			}
		})
	}
}

// probeCall is the command line of `probe syscall CALL ARGS...`, with the
// image's busybox entrypoint replaced.
func probeCall(flags []string, call ...string) ([]string, []string) {
	return append(append([]string(nil), flags...), "--entrypoint", "/probe"), append([]string{"syscall"}, call...)
}

// sysNum is a system call number as `probe syscall raw` takes it.
func sysNum(nr uintptr) string { return strconv.FormatUint(uint64(nr), 10) }

// TestSeccompDefaultProfile: in a default image container the calls a
// container has no business making fail with EPERM (clone3 with ENOSYS),
// while shells, busybox's tools, a Go program and a static C program work.
func TestSeccompDefaultProfile(t *testing.T) {
	e, hasC := newSeccompEnv(t)
	var cases []seccompCase
	denied := func(name, want string, call ...string) {
		flags, args := probeCall(nil, call...)
		cases = append(cases, seccompCase{name: "denied " + name, flags: flags, args: args, want: want})
	}
	cases = append(cases, seccompCase{name: "filter mode", args: []string{"grep", "Seccomp:", "/proc/self/status"}, want: "Seccomp:\t2"})
	// Each of these four fails differently without the filter (see
	// TestSeccompUnconfined): the EPERM is the filter's.
	denied("unshare user", "EPERM", "unshare-user")
	denied("clone user", "EPERM", "clone-newuser")
	denied("mount", "EPERM", "mount")
	denied("keyctl", "EPERM", "keyctl")
	denied("clone3", "ENOSYS", "raw", sysNum(unix.SYS_CLONE3))
	for name, nr := range map[string]uintptr{
		"setns": unix.SYS_SETNS, "umount2": unix.SYS_UMOUNT2, "pivot_root": unix.SYS_PIVOT_ROOT,
		"add_key": unix.SYS_ADD_KEY, "request_key": unix.SYS_REQUEST_KEY, "bpf": unix.SYS_BPF,
		"perf_event_open": unix.SYS_PERF_EVENT_OPEN, "userfaultfd": unix.SYS_USERFAULTFD,
		"open_by_handle_at": unix.SYS_OPEN_BY_HANDLE_AT, "kexec_load": unix.SYS_KEXEC_LOAD,
		"init_module": unix.SYS_INIT_MODULE, "delete_module": unix.SYS_DELETE_MODULE,
		"reboot": unix.SYS_REBOOT, "swapoff": unix.SYS_SWAPOFF, "settimeofday": unix.SYS_SETTIMEOFDAY,
		"clock_settime": unix.SYS_CLOCK_SETTIME, "acct": unix.SYS_ACCT, "quotactl": unix.SYS_QUOTACTL,
		"io_uring_setup": unix.SYS_IO_URING_SETUP, "kcmp": unix.SYS_KCMP, "ptrace": unix.SYS_PTRACE,
		"process_vm_readv": unix.SYS_PROCESS_VM_READV, "process_vm_writev": unix.SYS_PROCESS_VM_WRITEV,
	} {
		denied(name, "EPERM", "raw", sysNum(nr))
	}
	denied("personality ADDR_NO_RANDOMIZE", "EPERM", "raw", sysNum(unix.SYS_PERSONALITY), "0x40000")
	flags, args := probeCall(nil, "raw", sysNum(unix.SYS_PERSONALITY), "0xffffffff")
	cases = append(cases, seccompCase{name: "personality query", flags: flags, args: args, want: "ok"})
	// busybox's unshare says what the kernel said.
	cases = append(cases,
		seccompCase{name: "busybox unshare -U", args: []string{"sh", "-c", "busybox unshare -U true 2>&1; echo exit $?"}, want: "~Operation not permitted"},
		// busybox's mount words EPERM (and EACCES) as this; the probe's
		// case above asserts the errno itself.
		seccompCase{name: "busybox mount", args: []string{"sh", "-c", "mount -t tmpfs none /tmp 2>&1; echo exit $?"}, want: "~permission denied"},
	)

	// Everyday work.
	cases = append(cases,
		seccompCase{name: "shell pipeline", args: []string{"sh", "-c", "busybox seq 1 100 | grep 7 | busybox sort -r | wc -l"}, want: "19"},
		seccompCase{name: "sha256sum", args: []string{"sh", "-c", "printf abc | busybox sha256sum"}, want: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  -"},
		seccompCase{name: "tar", args: []string{"sh", "-c", "mkdir -p /tmp/a/b && echo x > /tmp/a/b/f && busybox tar -C /tmp -cf /tmp/a.tar a && rm -r /tmp/a && busybox tar -C /tmp -xf /tmp/a.tar && cat /tmp/a/b/f"}, want: "x"},
		seccompCase{name: "wget --help", args: []string{"sh", "-c", "busybox wget --help 2>&1 | head -1"}, want: "~BusyBox"},
		seccompCase{name: "background jobs and wait", args: []string{"sh", "-c", "sleep 0.1 & sleep 0.1 & wait; echo done"}, want: "done"},
	)
	flags, args = probeCall(nil, "fork")
	cases = append(cases, seccompCase{name: "Go fork and exec", flags: flags, args: args, want: "ok"})
	cases = append(cases, seccompCase{name: "Go program report", flags: []string{"--entrypoint", "/probe"}, want: `~"pid":1,`})
	if hasC {
		cases = append(cases, seccompCase{name: "static C thread and fork", flags: []string{"--entrypoint", "/cstatic"}, want: "static C: thread and fork ok"})
	}
	e.runSeccompCases(t, cases)
	e.checkNothingLeft()
}

// TestSeccompOptions: --security-opt seccomp=unconfined and --privileged
// run without a filter, --cap-add SYS_ADMIN brings mount back, and
// seccomp=FILE replaces the default with the file's profile.
func TestSeccompOptions(t *testing.T) {
	e, _ := newSeccompEnv(t)
	dir := t.TempDir()
	mkdirProfile := filepath.Join(dir, "deny-mkdir.json")
	// errnoRet 42 is ENOMSG, an errno mkdir never returns by itself.
	if err := os.WriteFile(mkdirProfile, []byte(`{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	unconfined := []string{"--security-opt", "seccomp=unconfined"}
	sysAdmin := []string{"--cap-add", "SYS_ADMIN"}
	withFile := []string{"--security-opt", "seccomp=" + mkdirProfile}
	status := []string{"grep", "Seccomp:", "/proc/self/status"}
	var cases []seccompCase
	call := func(name string, flags []string, want string, c ...string) {
		f, a := probeCall(flags, c...)
		cases = append(cases, seccompCase{name: name, flags: f, args: a, want: want})
	}
	cases = append(cases, seccompCase{name: "unconfined: no filter", flags: unconfined, args: status, want: "Seccomp:\t0"})
	// Without the filter the kernel answers: the mount point's lookup
	// comes before the capability check, a threaded process may not
	// unshare a user namespace, clone3 of nothing is invalid.
	call("unconfined: mount", unconfined, "ENOENT", "mount")
	call("unconfined: unshare user", unconfined, "EINVAL", "unshare-user")
	call("unconfined: clone user", unconfined, "ok", "clone-newuser")
	call("unconfined: clone3", unconfined, "EINVAL", "raw", sysNum(unix.SYS_CLONE3))
	cases = append(cases,
		seccompCase{name: "unconfined: busybox unshare -U", flags: unconfined, args: []string{"busybox", "unshare", "-U", "true"}},
		seccompCase{name: "privileged: no filter", flags: []string{"--privileged"}, args: status, want: "Seccomp:\t0"},
		seccompCase{name: "privileged wins over a file", flags: append([]string{"--privileged"}, withFile...), args: status, want: "Seccomp:\t0"},
		seccompCase{name: "cap-add SYS_ADMIN: filtered", flags: sysAdmin, args: status, want: "Seccomp:\t2"},
		seccompCase{name: "cap-add SYS_ADMIN: mount works", flags: sysAdmin, args: []string{"sh", "-c", "mount -t tmpfs none /tmp && grep -c ' /tmp tmpfs' /proc/self/mounts"}, want: "1"},
	)
	call("cap-add SYS_ADMIN: clone user", sysAdmin, "ok", "clone-newuser")
	call("cap-add SYS_ADMIN: keyctl still denied", sysAdmin, "EPERM", "keyctl")
	cases = append(cases,
		seccompCase{name: "file: filtered", flags: withFile, args: status, want: "Seccomp:\t2"},
		seccompCase{name: "file: busybox mkdir", flags: withFile, args: []string{"sh", "-c", "mkdir /tmp/d 2>&1; echo exit $?"}, want: "~No message of desired type\nexit 1"},
	)
	call("file: mkdir", withFile, "ENOMSG", "mkdir", "/tmp/d")
	e.runSeccompCases(t, cases)

	// The file replaces the default profile: keyctl gets the kernel's
	// answer, whatever it is here.
	t.Run("file: keyctl is not EPERM", func(t *testing.T) {
		e := e.with(t)
		f, a := probeCall(withFile, "keyctl")
		r := e.rt(append(append(append([]string{"run", "--rm", "--network", "none"}, f...), e.ref), a...)...)
		if r.code != 0 || strings.TrimSpace(r.stdout) == "EPERM" {
			t.Errorf("%v\nwant keyctl's own answer, not the default profile's EPERM", r)
		}
	})

	// A bad file: exit 125, one line naming it, nothing made.
	broken := filepath.Join(dir, "broken.json")
	if err := os.WriteFile(broken, []byte(`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_MAYBE"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	notJSON := filepath.Join(dir, "not.json")
	if err := os.WriteFile(notJSON, []byte("defaultAction: allow\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, opt, want string }{
		{"malformed file", "seccomp=" + broken, `syscalls[0]: action: unknown action "SCMP_ACT_MAYBE"`},
		{"not JSON", "seccomp=" + notJSON, "not JSON"},
		{"missing file", "seccomp=" + filepath.Join(dir, "none.json"), "no such file"},
		{"unknown option", "apparmor=unconfined", `invalid security option "apparmor=unconfined"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			r := e.rt("run", "--rm", "--network", "none", "--security-opt", tc.opt, e.ref, "true")
			stderr := strings.TrimRight(r.stderr, "\n")
			if r.code != 125 || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "\n") {
				t.Errorf("%v\nwant exit 125 and one line on stderr with %q", r, tc.want)
			}
		})
	}
	e.checkNothingLeft()
}

// seccompBundle writes a bundle whose process runs script in busybox's
// sh, with profile as linux.seccomp; profile gets the process's bounding
// set first.
func seccompBundle(t *testing.T, script string, profile func(bounding []string) *specs.LinuxSeccomp) string {
	t.Helper()
	return newBundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"/bin/sh", "-c", script}
		s.Linux.Seccomp = profile(s.Process.Capabilities.Bounding)
	})
}

// runSeccompBundle runs the bundle and returns its stdout, failing on an error.
func runSeccompBundle(t *testing.T, bundle string) string {
	t.Helper()
	r := rt(t, "run", "--bundle", bundle, newID(t))
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	return r.stdout
}

// probeLines is a script that prints `probe syscall CALL` for each call,
// one line each, "CALL: OUTCOME".
func probeLines(calls ...string) string {
	var b strings.Builder
	for _, c := range calls {
		fmt.Fprintf(&b, "printf '%s: '; /probe syscall %s; ", c, c)
	}
	return b.String()
}

// TestSeccompBundleDefaultProfile runs minirun's default profile through a
// bundle's config.json, as podman or containerd would pass it: the same
// answers as in an image run. Under runc (MINIRUN_TEST_RUNTIME) it checks
// the profile against libseccomp.
func TestSeccompBundleDefaultProfile(t *testing.T) {
	stateFor(t) // root, and this test's --root
	script := "grep Seccomp: /proc/self/status; " + probeLines(
		"mount", "keyctl", "clone-newuser", "fork", "getpid",
		"raw "+sysNum(unix.SYS_CLONE3), "raw "+sysNum(unix.SYS_BPF), "raw "+sysNum(unix.SYS_USERFAULTFD),
	) + "busybox seq 1 10 | wc -l"
	out := runSeccompBundle(t, seccompBundle(t, script, spec.DefaultSeccomp))
	want := "Seccomp:\t2\nmount: EPERM\nkeyctl: EPERM\nclone-newuser: EPERM\nfork: ok\ngetpid: ok\n" +
		"raw " + sysNum(unix.SYS_CLONE3) + ": ENOSYS\nraw " + sysNum(unix.SYS_BPF) + ": EPERM\nraw " + sysNum(unix.SYS_USERFAULTFD) + ": EPERM\n10\n"
	if out != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", out, want)
	}
}

// podmanProfile is where containers-common (Debian's
// golang-github-containers-common) installs podman's default profile.
const podmanProfile = "/usr/share/containers/seccomp.json"

// ownDockerProfile stands in for podman's where it is not installed: the
// same format (archMap, errnoRet, includes and excludes of capabilities),
// with podman's answers for the calls the test makes. What it allows is
// minirun's default allow-list, less chroot.
func ownDockerProfile() []byte {
	allow := slices.DeleteFunc(slices.Clone(spec.DefaultSeccomp(nil).Syscalls[0].Names), func(n string) bool { return n == "chroot" })
	type rule map[string]any
	b, _ := json.Marshal(map[string]any{
		"defaultAction":   "SCMP_ACT_ERRNO",
		"defaultErrnoRet": 38,
		"archMap": []rule{
			{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": []string{"SCMP_ARCH_X86", "SCMP_ARCH_X32"}},
			{"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": []string{"SCMP_ARCH_ARM"}},
		},
		"syscalls": []rule{
			{"names": []string{"kexec_load", "swapon", "userfaultfd"}, "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
			{"names": append(allow, "clone", "clone3"), "action": "SCMP_ACT_ALLOW"},
			{"names": []string{"chroot"}, "action": "SCMP_ACT_ALLOW", "includes": rule{"caps": []string{"CAP_SYS_CHROOT"}}},
			{"names": []string{"chroot"}, "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "excludes": rule{"caps": []string{"CAP_SYS_CHROOT"}}},
		},
	})
	return b
}

// TestSeccompBundlePodmanProfile loads podman's default profile (docker's
// format, which podman converts into config.json) into a bundle, through
// minirun's own conversion, and runs a Go program and busybox under it.
func TestSeccompBundlePodmanProfile(t *testing.T) {
	stateFor(t) // root, and this test's --root
	data, err := os.ReadFile(podmanProfile)
	if err != nil {
		t.Logf("%v: using a profile of the same format instead", err)
		data = ownDockerProfile()
	}
	p, err := spec.ParseSeccompProfile(data)
	if err != nil {
		t.Fatalf("parse %s: %v", podmanProfile, err)
	}
	// The bundle's process lacks CAP_SYS_CHROOT: podman's profile
	// answers chroot with EPERM then, and anything it does not name
	// with ENOSYS.
	script := "grep Seccomp: /proc/self/status; " + probeLines(
		"fork", "getpid", "raw "+sysNum(unix.SYS_USERFAULTFD), "raw "+sysNum(unix.SYS_CHROOT)+" 0",
	) + "/probe | grep -c '\"hostname\":'"
	out := runSeccompBundle(t, seccompBundle(t, script, p.Spec))
	want := "Seccomp:\t2\nfork: ok\ngetpid: ok\nraw " + sysNum(unix.SYS_USERFAULTFD) + ": EPERM\nraw " + sysNum(unix.SYS_CHROOT) + " 0: EPERM\n1\n"
	if out != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", out, want)
	}
	b := seccompBundle(t, "true", p.Spec)
	if s := readSpec(t, b); s.Linux.Seccomp == nil || len(s.Linux.Seccomp.Syscalls) == 0 {
		js, _ := json.Marshal(s.Linux.Seccomp)
		t.Errorf("config.json's linux.seccomp: %s", js)
	}
}
