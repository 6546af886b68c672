package rootfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestMaskWithFakeDevNull: with no tmpfs on /dev, the container's
// /dev/null is the image's, and it may be anything. Masking a file must
// never bind what it leads to (CVE-2025-31133 in runc): Finalize refuses
// a /dev/null that is not the null device, and masks with the real one.
//
// Checked: with the bind of the path /dev/null that maskFile replaced, the
// four hostile rows finalized without error.
func TestMaskWithFakeDevNull(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(p string) error // makes rootfs/dev/null
		ok   bool
	}{
		{"symlink to a proc file", func(p string) error { return os.Symlink("/proc/timer_list", p) }, false},
		{"symlink to a secret", func(p string) error { return os.Symlink("/secret/key", p) }, false},
		{"regular file", func(p string) error { return os.WriteFile(p, []byte("not null\n"), 0o666) }, false},
		{"another device", func(p string) error { return unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 5))) }, false},
		{"the null device", func(p string) error { return unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := hostDir(t)
			rootfs := buildRootfs(t, dir)
			if err := tc.make(filepath.Join(rootfs, "dev/null")); err != nil {
				t.Fatal(err)
			}
			spec := &specs.Spec{
				Mounts: []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
				Linux:  &specs.Linux{MaskedPaths: []string{"/proc/keys"}},
			}
			rep := runHelper(t, helperConfig{Rootfs: rootfs, Spec: spec, Read: []string{"/proc/keys"}})
			checkNoLeak(t, dir)
			if !tc.ok {
				if rep.Stage != "finalize" || !strings.Contains(rep.Err, errNotNull.Error()) {
					t.Errorf("%s: %q (masked /proc/keys reads %+v); want finalize to refuse the container's /dev/null",
						rep.Stage, rep.Err, rep.Read["/proc/keys"])
				}
				return
			}
			if rep.Err != "" {
				t.Fatalf("%s: %s", rep.Stage, rep.Err)
			}
			if got := rep.Read["/proc/keys"]; got.Errno != 0 || got.Data != "" {
				t.Errorf("masked /proc/keys: %+v, want it empty", got)
			}
		})
	}
}
