package spec

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestLoadErrors runs Load on one broken bundle per case. Each error must be
// a single line that starts with the file, names the field at fault, and
// wraps ErrInvalid, so that the CLI can print it as is and callers can tell a
// bad config from a missing one.
func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		// The config.json: raw when set, otherwise Default() changed by
		// mutate, if any.
		raw    string
		mutate func(s *specs.Spec)
		// setup changes the bundle after it is written.
		setup func(t *testing.T, bundle string)
		// want are substrings the error must contain.
		want []string
	}{
		// Malformed JSON.
		{
			name: "syntax error",
			raw:  "{\n  \"ociVersion\": \"1.0.0\",\n}",
			want: []string{"line 3, column 1", "invalid character '}'"},
		},
		{
			name:  "empty file",
			setup: func(t *testing.T, b string) { writeFile(t, filepath.Join(b, "config.json"), nil) },
			want:  []string{"line 1, column 1", "unexpected end of JSON input"},
		},
		{
			name: "truncated",
			raw:  `{"ociVersion": "1.0.0", "process": {`,
			want: []string{"line 1, column 36", "unexpected end of JSON input"},
		},
		{
			name: "wrong type",
			raw:  "{\n  \"ociVersion\": \"1.0.0\",\n  \"process\": {\"args\": \"sh\"}\n}",
			want: []string{"process.args", "cannot use JSON string as []string", "line 3"},
		},
		{
			name: "negative rlimit",
			raw:  `{"process": {"rlimits": [{"type": "RLIMIT_NOFILE", "hard": -1}]}}`,
			want: []string{"process.rlimits.hard", "number -1", "uint64"},
		},

		// Version, root, process.
		{
			name:   "ociVersion 2",
			mutate: func(s *specs.Spec) { s.Version = "2.0.0" },
			want:   []string{`ociVersion "2.0.0" is not 1.x`},
		},
		{
			name:   "ociVersion missing",
			mutate: func(s *specs.Spec) { s.Version = "" },
			want:   []string{`ociVersion "" is not 1.x`},
		},
		{
			name:   "root missing",
			mutate: func(s *specs.Spec) { s.Root = nil },
			want:   []string{"root is missing"},
		},
		{
			name:   "root.path empty",
			mutate: func(s *specs.Spec) { s.Root.Path = "" },
			want:   []string{"root.path is empty"},
		},
		{
			name:  "rootfs missing",
			setup: func(t *testing.T, b string) { remove(t, filepath.Join(b, "rootfs")) },
			want:  []string{`root.path "rootfs"`, "no such file or directory"},
		},
		{
			name: "rootfs is a file",
			setup: func(t *testing.T, b string) {
				remove(t, filepath.Join(b, "rootfs"))
				writeFile(t, filepath.Join(b, "rootfs"), nil)
			},
			want: []string{`root.path "rootfs"`, "is not a directory"},
		},
		{
			name:   "process missing",
			mutate: func(s *specs.Spec) { s.Process = nil },
			want:   []string{"process.args must not be empty"},
		},
		{
			name:   "process.args empty",
			mutate: func(s *specs.Spec) { s.Process.Args = nil },
			want:   []string{"process.args must not be empty"},
		},
		{
			name:   "relative cwd",
			mutate: func(s *specs.Spec) { s.Process.Cwd = "home" },
			want:   []string{`process.cwd "home" is not absolute`},
		},
		{
			name:   "missing cwd",
			mutate: func(s *specs.Spec) { s.Process.Cwd = "" },
			want:   []string{`process.cwd "" is not absolute`},
		},
		{
			name:   "env without =",
			mutate: func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "FOO") },
			want:   []string{`process.env[2] "FOO" is not KEY=value`},
		},
		{
			name:   "unknown rlimit",
			mutate: func(s *specs.Spec) { s.Process.Rlimits[0].Type = "RLIMIT_FOO" },
			want:   []string{`process.rlimits[0].type "RLIMIT_FOO" is unknown`},
		},
		{
			name: "duplicate rlimit",
			mutate: func(s *specs.Spec) {
				s.Process.Rlimits = append(s.Process.Rlimits, s.Process.Rlimits[0])
			},
			want: []string{`process.rlimits[1].type "RLIMIT_NOFILE" appears more than once`},
		},
		{
			name:   "rlimit soft above hard",
			mutate: func(s *specs.Spec) { s.Process.Rlimits[0].Soft = 2048 },
			want:   []string{"process.rlimits[0].soft 2048 is above hard limit 1024"},
		},
		{
			name:   "lowercase capability",
			mutate: func(s *specs.Spec) { s.Process.Capabilities.Effective[1] = "cap_kill" },
			want:   []string{`process.capabilities.effective[1] "cap_kill"`},
		},
		{
			name:   "capability without CAP_",
			mutate: func(s *specs.Spec) { s.Process.Capabilities.Ambient = []string{"KILL"} },
			want:   []string{`process.capabilities.ambient[0] "KILL"`},
		},
		{
			name:   "bare CAP_",
			mutate: func(s *specs.Spec) { s.Process.Capabilities.Inheritable = []string{"CAP_"} },
			want:   []string{`process.capabilities.inheritable[0] "CAP_"`},
		},
		{
			name:   "oomScoreAdj out of range",
			mutate: func(s *specs.Spec) { s.Process.OOMScoreAdj = new(1001) },
			want:   []string{"process.oomScoreAdj 1001 is outside -1000..1000"},
		},

		// Mounts and hooks.
		{
			name:   "empty mount destination",
			mutate: func(s *specs.Spec) { s.Mounts[2].Destination = "" },
			want:   []string{"mounts[2].destination is empty"},
		},
		{
			name: "relative hook path",
			mutate: func(s *specs.Spec) {
				s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "bin/hook"}}}
			},
			want: []string{`hooks.createRuntime[0].path "bin/hook" is not absolute`},
		},
		{
			name: "deprecated prestart hook checked too",
			mutate: func(s *specs.Spec) {
				s.Hooks = &specs.Hooks{Prestart: []specs.Hook{{Path: ""}}}
			},
			want: []string{`hooks.prestart[0].path "" is not absolute`},
		},
		{
			name: "negative hook timeout",
			mutate: func(s *specs.Spec) {
				s.Hooks = &specs.Hooks{Poststop: []specs.Hook{
					{Path: "/bin/ok"},
					{Path: "/bin/hook", Timeout: new(-1)},
				}}
			},
			want: []string{"hooks.poststop[1].timeout -1 is not greater than zero"},
		},
		{
			name: "zero hook timeout",
			mutate: func(s *specs.Spec) {
				s.Hooks = &specs.Hooks{Poststart: []specs.Hook{{Path: "/bin/hook", Timeout: new(0)}}}
			},
			want: []string{"hooks.poststart[0].timeout 0 is not greater than zero"},
		},

		// Linux.
		{
			name:   "unknown namespace",
			mutate: func(s *specs.Spec) { s.Linux.Namespaces[1].Type = "net" },
			want:   []string{`linux.namespaces[1].type "net" is unknown`},
		},
		{
			name: "duplicate namespace",
			mutate: func(s *specs.Spec) {
				s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "pid"})
			},
			want: []string{`linux.namespaces[6].type "pid" appears more than once`},
		},
		{
			name:   "relative namespace path",
			mutate: func(s *specs.Spec) { s.Linux.Namespaces[1].Path = "run/netns/x" },
			want:   []string{`linux.namespaces[1].path "run/netns/x" is not absolute`},
		},
		{
			name: "uidMappings without user namespace",
			mutate: func(s *specs.Spec) {
				s.Linux.UIDMappings = []specs.LinuxIDMapping{{HostID: 1000, Size: 1}}
			},
			want: []string{"linux.uidMappings are set but linux.namespaces has no user namespace"},
		},
		{
			name: "gidMappings without user namespace",
			mutate: func(s *specs.Spec) {
				s.Linux.GIDMappings = []specs.LinuxIDMapping{{HostID: 1000, Size: 1}}
			},
			want: []string{"linux.gidMappings are set"},
		},
		{
			name:   "sysctl key with slash",
			mutate: func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"net/ipv4/ip_forward": "1"} },
			want:   []string{`linux.sysctl key "net/ipv4/ip_forward"`},
		},
		{
			name: "sysctl key with dotdot",
			mutate: func(s *specs.Spec) {
				s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "..kernel": "1"}
			},
			want: []string{`linux.sysctl key "..kernel"`},
		},
		{
			name:   "sysctl that is not namespaced",
			mutate: func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"vm.swappiness": "1"} },
			want:   []string{`linux.sysctl "vm.swappiness" is not namespaced`},
		},
		{
			name: "net sysctl without a network namespace",
			mutate: func(s *specs.Spec) {
				s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
				s.Linux.Namespaces = withoutNS(s.Linux.Namespaces, specs.NetworkNamespace)
			},
			want: []string{`linux.sysctl "net.ipv4.ip_forward" needs its own network namespace`},
		},
		{
			name: "ipc sysctl without an ipc namespace",
			mutate: func(s *specs.Spec) {
				s.Linux.Sysctl = map[string]string{"fs.mqueue.msg_max": "20"}
				s.Linux.Namespaces = withoutNS(s.Linux.Namespaces, specs.IPCNamespace)
			},
			want: []string{`linux.sysctl "fs.mqueue.msg_max" needs its own ipc namespace`},
		},
		{
			name:   "masked paths without a mount namespace",
			mutate: func(s *specs.Spec) { s.Linux.Namespaces = withoutNS(s.Linux.Namespaces, specs.MountNamespace) },
			want:   []string{"linux.maskedPaths need their own mount namespace"},
		},
		{
			name:   "hostname without a uts namespace",
			mutate: func(s *specs.Spec) { s.Linux.Namespaces = withoutNS(s.Linux.Namespaces, specs.UTSNamespace) },
			want:   []string{`hostname "minirun" needs its own uts namespace`},
		},
		{
			name:   "empty sysctl key",
			mutate: func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"": "1"} },
			want:   []string{`linux.sysctl key ""`},
		},
		{
			name: "unknown device type",
			mutate: func(s *specs.Spec) {
				s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "x", Major: 10, Minor: 229}}
			},
			want: []string{`linux.devices[0].type "x" is not one of c, b, u, p`},
		},
		{
			name: "relative device path",
			mutate: func(s *specs.Spec) {
				s.Linux.Devices = []specs.LinuxDevice{{Path: "dev/fuse", Type: "c", Major: 10, Minor: 229}}
			},
			want: []string{`linux.devices[0].path "dev/fuse" is not absolute`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			config := []byte(tt.raw)
			if tt.raw == "" {
				config = defaultWith(t, tt.mutate)
			}
			bundle := newBundle(t, config)
			if tt.setup != nil {
				tt.setup(t, bundle)
			}

			s, err := Load(bundle)
			if err == nil {
				t.Fatalf("Load succeeded (%+v), want an error", s)
			}
			if s != nil {
				t.Errorf("Load returned a spec along with error %v", err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %q does not wrap ErrInvalid", err)
			}
			msg := err.Error()
			if prefix := "load " + filepath.Join(bundle, "config.json") + ": "; !strings.HasPrefix(msg, prefix) {
				t.Errorf("error %q does not start with %q", msg, prefix)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error %q is more than one line", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func withoutNS(nss []specs.LinuxNamespace, drop specs.LinuxNamespaceType) []specs.LinuxNamespace {
	var out []specs.LinuxNamespace
	for _, ns := range nss {
		if ns.Type != drop {
			out = append(out, ns)
		}
	}
	return out
}
