package spec

import (
	"encoding/json"
	"errors"
	"io/fs"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The files of a small Alpine-like image, with the oddities real ones have:
// comments, blank lines, a broken entry, a user listed in its own primary
// group, a member name with spaces around it and two groups with one gid.
const (
	testPasswd = `root:x:0:0:root:/root:/bin/sh
bin:x:1:1:bin:/bin:/sbin/nologin

# a comment
broken:x:notanumber:0::/broken:/bin/sh
app:x:1000:1000:App:/home/app:/bin/sh
nohome:x:1001:1001::
nobody:x:65534:65534:nobody:/:/sbin/nologin
`
	testGroup = `root:x:0:root
bin:x:1:root,bin
daemon:x:2:root,bin
wheel:x:10:root,app
audio:x:18:app
app:x:1000:app
staff:x:50:
users:x:100:games, app
sound:x:18:app
`
)

func testRootFS() fstest.MapFS {
	return fstest.MapFS{
		"etc/passwd": {Data: []byte(testPasswd)},
		"etc/group":  {Data: []byte(testGroup)},
	}
}

var (
	shellEntry = []string{"/bin/sh", "-c", "exec_entry p1_entry"} // ENTRYPOINT exec_entry p1_entry
	execEntry  = []string{"exec_entry", "p1_entry"}               // ENTRYPOINT ["exec_entry", "p1_entry"]
	shellCmd   = []string{"/bin/sh", "-c", "exec_cmd p1_cmd"}     // CMD exec_cmd p1_cmd
	execCmd    = []string{"exec_cmd", "p1_cmd"}                   // CMD ["exec_cmd", "p1_cmd"]
)

// TestFromImageDockerTable checks the table in the Dockerfile reference,
// "Understand how CMD and ENTRYPOINT interact", with each instruction in
// the form a builder writes to the image config: the shell form is
// ["/bin/sh", "-c", "..."].
func TestFromImageDockerTable(t *testing.T) {
	tests := []struct {
		name            string
		entrypoint, cmd []string
		want            []string // nil: ErrNoCommand
	}{
		{"no entrypoint, no cmd", nil, nil, nil},
		{"no entrypoint, exec cmd", nil, execCmd, []string{"exec_cmd", "p1_cmd"}},
		{"no entrypoint, shell cmd", nil, shellCmd, []string{"/bin/sh", "-c", "exec_cmd p1_cmd"}},
		{"shell entrypoint, no cmd", shellEntry, nil, []string{"/bin/sh", "-c", "exec_entry p1_entry"}},
		// The table says "/bin/sh -c exec_entry p1_entry" for the next two:
		// the cmd is there, but sh -c takes what follows the script as $0,
		// $1, ..., which the script does not use.
		{"shell entrypoint, exec cmd", shellEntry, execCmd,
			[]string{"/bin/sh", "-c", "exec_entry p1_entry", "exec_cmd", "p1_cmd"}},
		{"shell entrypoint, shell cmd", shellEntry, shellCmd,
			[]string{"/bin/sh", "-c", "exec_entry p1_entry", "/bin/sh", "-c", "exec_cmd p1_cmd"}},
		{"exec entrypoint, no cmd", execEntry, nil, []string{"exec_entry", "p1_entry"}},
		{"exec entrypoint, exec cmd", execEntry, execCmd, []string{"exec_entry", "p1_entry", "exec_cmd", "p1_cmd"}},
		{"exec entrypoint, shell cmd", execEntry, shellCmd,
			[]string{"exec_entry", "p1_entry", "/bin/sh", "-c", "exec_cmd p1_cmd"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ImageRun{Image: ocispec.Image{Config: ocispec.ImageConfig{Entrypoint: tt.entrypoint, Cmd: tt.cmd}}}
			s, err := FromImage(Default(), r)
			if tt.want == nil {
				if !errors.Is(err, ErrNoCommand) {
					t.Fatalf("FromImage = %v, want ErrNoCommand", err)
				}
				if err.Error() != "no command specified" {
					t.Errorf("error text = %q, want docker's %q", err, "no command specified")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.Process.Args, tt.want) {
				t.Errorf("process.args = %q, want %q", s.Process.Args, tt.want)
			}
		})
	}
}

// TestFromImageCommandOverrides runs every image of the Docker table with
// every way `docker run` can override its command.
func TestFromImageCommandOverrides(t *testing.T) {
	images := []struct {
		name            string
		entrypoint, cmd []string
	}{
		{"no entrypoint, no cmd", nil, nil},
		{"no entrypoint, exec cmd", nil, execCmd},
		{"no entrypoint, shell cmd", nil, shellCmd},
		{"shell entrypoint, no cmd", shellEntry, nil},
		{"shell entrypoint, exec cmd", shellEntry, execCmd},
		{"shell entrypoint, shell cmd", shellEntry, shellCmd},
		{"exec entrypoint, no cmd", execEntry, nil},
		{"exec entrypoint, exec cmd", execEntry, execCmd},
		{"exec entrypoint, shell cmd", execEntry, shellCmd},
	}
	args := []string{"a1", "a2"}
	runs := []struct {
		name       string
		args       []string
		entrypoint []string
		set        bool
		// want gives the expected process.args for an image's entrypoint;
		// nil means ErrNoCommand.
		want func(imageEntrypoint []string) []string
	}{
		{
			name: "args replace cmd, keep entrypoint",
			args: args,
			want: func(e []string) []string { return slices.Concat(e, args) },
		},
		{
			name:       "entrypoint replaces entrypoint and drops cmd",
			entrypoint: []string{"ep", "-x"}, set: true,
			want: func([]string) []string { return []string{"ep", "-x"} },
		},
		{
			name: "entrypoint and args",
			args: args, entrypoint: []string{"ep"}, set: true,
			want: func([]string) []string { return []string{"ep", "a1", "a2"} },
		},
		{
			name:       "empty entrypoint drops both",
			entrypoint: []string{}, set: true,
			want: func([]string) []string { return nil },
		},
		{
			name:       `docker's --entrypoint "" drops both`,
			entrypoint: []string{""}, set: true,
			want: func([]string) []string { return nil },
		},
		{
			name: "nil entrypoint set drops both",
			set:  true,
			want: func([]string) []string { return nil },
		},
		{
			name: "empty entrypoint and args: args alone",
			args: args, entrypoint: []string{""}, set: true,
			want: func([]string) []string { return []string{"a1", "a2"} },
		},
		{
			name: "entrypoint not set is ignored",
			args: args, entrypoint: []string{"ignored"},
			want: func(e []string) []string { return slices.Concat(e, args) },
		},
	}
	for _, img := range images {
		for _, run := range runs {
			t.Run(img.name+"/"+run.name, func(t *testing.T) {
				r := ImageRun{
					Image:         ocispec.Image{Config: ocispec.ImageConfig{Entrypoint: img.entrypoint, Cmd: img.cmd}},
					Args:          run.args,
					Entrypoint:    run.entrypoint,
					EntrypointSet: run.set,
				}
				want := run.want(img.entrypoint)
				s, err := FromImage(Default(), r)
				if want == nil {
					if !errors.Is(err, ErrNoCommand) {
						t.Fatalf("FromImage = %v, want ErrNoCommand", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(s.Process.Args, want) {
					t.Errorf("process.args = %q, want %q", s.Process.Args, want)
				}
			})
		}
	}
}

func TestFromImageCommandEdges(t *testing.T) {
	tests := []struct {
		name string
		cfg  ocispec.ImageConfig
		args []string
		want []string // nil: ErrNoCommand
	}{
		{"empty args keep cmd", ocispec.ImageConfig{Cmd: execCmd}, []string{}, execCmd},
		{"empty cmd entries", ocispec.ImageConfig{Cmd: []string{}}, nil, nil},
		{"empty program name", ocispec.ImageConfig{Cmd: []string{"", "x"}}, nil, nil},
		{"args without image command", ocispec.ImageConfig{}, []string{"sh"}, []string{"sh"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := FromImage(Default(), ImageRun{Image: ocispec.Image{Config: tt.cfg}, Args: tt.args})
			if tt.want == nil {
				if !errors.Is(err, ErrNoCommand) {
					t.Fatalf("FromImage = %v, want ErrNoCommand", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.Process.Args, tt.want) {
				t.Errorf("process.args = %q, want %q", s.Process.Args, tt.want)
			}
		})
	}
}

func TestFromImageEnv(t *testing.T) {
	const defPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	host := map[string]string{"FROMHOST": "host value", "EMPTYHOST": ""}
	tests := []struct {
		name     string
		image    []string
		run      []string
		hostname string
		terminal bool
		noHost   bool // HostEnv nil
		want     []string
		wantErr  string
	}{
		{
			name: "defaults only",
			want: []string{defPath, "HOME=/root"},
		},
		{
			name:  "image env kept in order, its PATH wins",
			image: []string{"B=2", "PATH=/opt/bin", "A=1"},
			want:  []string{"B=2", "PATH=/opt/bin", "A=1", "HOME=/root"},
		},
		{
			name:  "run overrides in place, new keys after, in order",
			image: []string{"A=1", "FOO=image", "B=1"},
			run:   []string{"NEW2=x", "FOO=run", "NEW1=y"},
			want:  []string{"A=1", "FOO=run", "B=1", "NEW2=x", "NEW1=y", defPath, "HOME=/root"},
		},
		{
			name:  "value with equals signs and empty value",
			image: []string{"A=1"},
			run:   []string{"A=", "B=x=y=z"},
			want:  []string{"A=", "B=x=y=z", defPath, "HOME=/root"},
		},
		{
			name:  "key only from host overrides the image",
			image: []string{"FROMHOST=image"},
			run:   []string{"FROMHOST"},
			want:  []string{"FROMHOST=host value", defPath, "HOME=/root"},
		},
		{
			name: "key only set but empty on the host",
			run:  []string{"EMPTYHOST"},
			want: []string{"EMPTYHOST=", defPath, "HOME=/root"},
		},
		{
			name:  "key only missing on the host removes the image's",
			image: []string{"A=1", "GONE=image", "B=2"},
			run:   []string{"GONE"},
			want:  []string{"A=1", "B=2", defPath, "HOME=/root"},
		},
		{
			name: "key only missing everywhere adds nothing",
			run:  []string{"NOWHERE"},
			want: []string{defPath, "HOME=/root"},
		},
		{
			name:   "key only without HostEnv removes",
			image:  []string{"FROMHOST=image"},
			run:    []string{"FROMHOST"},
			noHost: true,
			want:   []string{defPath, "HOME=/root"},
		},
		{
			name: "later run entries win",
			run:  []string{"X=1", "X=2", "Y=1", "Y", "Z", "Z=3"},
			want: []string{"X=2", "Z=3", defPath, "HOME=/root"},
		},
		{
			name:  "image repeats a key: first place, last value",
			image: []string{"A=1", "B=1", "A=2"},
			want:  []string{"A=2", "B=1", defPath, "HOME=/root"},
		},
		{
			name:   "run removes PATH: the default comes back",
			image:  []string{"PATH=/opt/bin"},
			run:    []string{"PATH"},
			noHost: true,
			want:   []string{defPath, "HOME=/root"},
		},
		{
			name:  "image HOME wins over passwd",
			image: []string{"HOME=/data"},
			want:  []string{"HOME=/data", defPath},
		},
		{
			name: "run HOME wins over passwd",
			run:  []string{"HOME=/run"},
			want: []string{"HOME=/run", defPath},
		},
		{
			name:     "hostname and terminal in docker's order",
			hostname: "box",
			terminal: true,
			want:     []string{defPath, "HOSTNAME=box", "TERM=xterm", "HOME=/root"},
		},
		{
			name:     "image HOSTNAME and TERM win",
			image:    []string{"TERM=dumb", "HOSTNAME=img"},
			hostname: "box",
			terminal: true,
			want:     []string{"TERM=dumb", "HOSTNAME=img", defPath, "HOME=/root"},
		},
		{name: "image entry without value", image: []string{"A=1", "FOO"}, wantErr: `image env entry "FOO" is not KEY=value`},
		{name: "image entry without name", image: []string{"=x"}, wantErr: `image env entry "=x" is not KEY=value`},
		{name: "run entry without name", run: []string{"=x"}, wantErr: `env entry "=x" has no name`},
		{name: "empty run entry", run: []string{""}, wantErr: `env entry "" has no name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := Default()
			base.Process.Terminal = tt.terminal
			r := ImageRun{
				Image:    ocispec.Image{Config: ocispec.ImageConfig{Cmd: []string{"sh"}, Env: tt.image}},
				Env:      tt.run,
				Hostname: tt.hostname,
				RootFS:   testRootFS(),
			}
			if !tt.noHost {
				r.HostEnv = func(k string) (string, bool) { v, ok := host[k]; return v, ok }
			}
			s, err := FromImage(base, r)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("FromImage = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.Process.Env, tt.want) {
				t.Errorf("process.env =\n%q\nwant\n%q", s.Process.Env, tt.want)
			}
		})
	}
}

func TestFromImageUser(t *testing.T) {
	tests := []struct {
		name    string
		image   string // the image's User
		run     string // the run's User
		rootfs  fs.FS  // nil: testRootFS()
		noFS    bool   // RootFS nil
		uid     uint32
		gid     uint32
		groups  []uint32
		home    string
		wantErr error // a sentinel, or errAny
	}{
		{name: "default is root with its groups", uid: 0, gid: 0, groups: []uint32{1, 2, 10}, home: "/root"},
		{name: "root by name", image: "root", groups: []uint32{1, 2, 10}, home: "/root"},
		{name: "root by uid", image: "0", groups: []uint32{1, 2, 10}, home: "/root"},
		{name: "name", image: "app", uid: 1000, gid: 1000, groups: []uint32{10, 18, 100}, home: "/home/app"},
		{name: "uid in passwd", image: "1000", uid: 1000, gid: 1000, groups: []uint32{10, 18, 100}, home: "/home/app"},
		{name: "name:group", image: "app:staff", uid: 1000, gid: 50, home: "/home/app"},
		{name: "name:gid", image: "app:50", uid: 1000, gid: 50, home: "/home/app"},
		{name: "uid:group", image: "1000:staff", uid: 1000, gid: 50, home: "/home/app"},
		{name: "uid:gid", image: "1000:4242", uid: 1000, gid: 4242, home: "/home/app"},
		{name: "name:gid of the primary group", image: "app:1000", uid: 1000, gid: 1000, home: "/home/app"},
		{name: "uid not in passwd", image: "4242", uid: 4242, gid: 0, home: "/"},
		{name: "uid not in passwd with group", image: "4242:staff", uid: 4242, gid: 50, home: "/"},
		{name: "uid not in passwd with gid", image: "4242:4343", uid: 4242, gid: 4343, home: "/"},
		{name: "largest uid", image: "4294967294", uid: 4294967294, home: "/"},
		{name: "empty group is no group", image: "app:", uid: 1000, gid: 1000, groups: []uint32{10, 18, 100}, home: "/home/app"},
		{name: "group alone is root's user", image: ":staff", uid: 0, gid: 50, home: "/root"},
		{name: "empty home is /", image: "nohome", uid: 1001, gid: 1001, home: "/"},
		{name: "no groups to its name", image: "nobody", uid: 65534, gid: 65534, home: "/"},
		{name: "run overrides image", image: "app", run: "root", groups: []uint32{1, 2, 10}, home: "/root"},
		{name: "run uid overrides image name", image: "app", run: "4242", uid: 4242, home: "/"},

		{name: "unknown name", image: "ghost", wantErr: ErrUnknownUser},
		{name: "unknown name with known group", image: "ghost:staff", wantErr: ErrUnknownUser},
		{name: "unknown group", image: "app:ghosts", wantErr: ErrUnknownGroup},
		{name: "unknown group of unknown uid", image: "4242:ghosts", wantErr: ErrUnknownGroup},
		{name: "negative is a name", image: "-1", wantErr: ErrUnknownUser},
		{name: "broken passwd line is skipped", image: "broken", wantErr: ErrUnknownUser},
		{name: "run user unknown", image: "app", run: "ghost", wantErr: ErrUnknownUser},
		{name: "uid -1", image: "4294967295", wantErr: errAny},
		{name: "uid out of range", image: "99999999999", wantErr: errAny},
		{name: "gid -1", image: "app:4294967295", wantErr: errAny},

		{name: "no files: root", rootfs: fstest.MapFS{}, home: "/"},
		{name: "no files: uid", rootfs: fstest.MapFS{}, image: "1000:1000", uid: 1000, gid: 1000, home: "/"},
		{name: "no files: name", rootfs: fstest.MapFS{}, image: "app", wantErr: ErrUnknownUser},
		{name: "no files: group", rootfs: fstest.MapFS{}, image: "0:wheel", wantErr: ErrUnknownGroup},
		{name: "nil rootfs: uid", noFS: true, image: "7", uid: 7, home: "/"},
		{name: "nil rootfs: name", noFS: true, image: "app", wantErr: ErrUnknownUser},
		{
			name:   "passwd without group",
			rootfs: fstest.MapFS{"etc/passwd": {Data: []byte(testPasswd)}},
			image:  "app", uid: 1000, gid: 1000, home: "/home/app",
		},
		{
			name:   "passwd is a FIFO",
			rootfs: fstest.MapFS{"etc/passwd": {Mode: fs.ModeNamedPipe}},
			image:  "app", wantErr: errAny,
		},
		{
			name:   "passwd is a directory",
			rootfs: fstest.MapFS{"etc/passwd/x": {}},
			image:  "0", wantErr: errAny,
		},
		{
			name: "line too long",
			rootfs: fstest.MapFS{"etc/passwd": {
				Data: []byte("long:x:1:1:" + strings.Repeat("g", 1<<17) + ":/:/bin/sh\n"),
			}},
			image: "long", wantErr: errAny,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ImageRun{
				Image:  ocispec.Image{Config: ocispec.ImageConfig{Cmd: []string{"id"}, User: tt.image}},
				User:   tt.run,
				RootFS: testRootFS(),
			}
			if tt.rootfs != nil {
				r.RootFS = tt.rootfs
			}
			if tt.noFS {
				r.RootFS = nil
			}
			s, err := FromImage(Default(), r)
			if tt.wantErr != nil {
				if err == nil || (tt.wantErr != errAny && !errors.Is(err, tt.wantErr)) {
					t.Fatalf("FromImage = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			u := s.Process.User
			if u.UID != tt.uid || u.GID != tt.gid || !slices.Equal(u.AdditionalGids, tt.groups) {
				t.Errorf("user = %d:%d %v, want %d:%d %v", u.UID, u.GID, u.AdditionalGids, tt.uid, tt.gid, tt.groups)
			}
			if home := envValue(s.Process.Env, "HOME"); home != tt.home {
				t.Errorf("HOME = %q, want %q", home, tt.home)
			}
		})
	}
}

// errAny stands for "some error" in a table of sentinels.
var errAny = errors.New("any error")

func envValue(env []string, key string) string {
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v
		}
	}
	return ""
}

// TestFromImageUserErrorText checks that an error names what was not found
// and where it was looked for.
func TestFromImageUserErrorText(t *testing.T) {
	tests := []struct{ user, want string }{
		{"ghost", `resolve user "ghost": look up user "ghost" in /etc/passwd: unknown user`},
		{"app:ghosts", `resolve user "app:ghosts": look up group "ghosts" in /etc/group: unknown group`},
	}
	for _, tt := range tests {
		r := ImageRun{Image: ocispec.Image{Config: ocispec.ImageConfig{Cmd: []string{"id"}}}, User: tt.user, RootFS: testRootFS()}
		_, err := FromImage(Default(), r)
		if err == nil || err.Error() != tt.want {
			t.Errorf("FromImage(user %q) = %v, want %q", tt.user, err, tt.want)
		}
	}
}

func TestFromImageWorkingDir(t *testing.T) {
	tests := []struct {
		name       string
		image, run string
		want       string
		wantErr    bool
	}{
		{name: "none is /", want: "/"},
		{name: "image", image: "/app", want: "/app"},
		{name: "image, cleaned", image: "/app/./x/../", want: "/app"},
		{name: "run overrides", image: "/app", run: "/srv", want: "/srv"},
		{name: "run, cleaned", run: "//a/../b/", want: "/b"},
		{name: "run absolute over image relative", image: "app", run: "/srv", want: "/srv"},
		{name: "image relative", image: "app", wantErr: true},
		{name: "run relative", image: "/app", run: "srv", wantErr: true},
		{name: "run dot", run: ".", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ImageRun{
				Image:      ocispec.Image{Config: ocispec.ImageConfig{Cmd: []string{"pwd"}, WorkingDir: tt.image}},
				WorkingDir: tt.run,
			}
			s, err := FromImage(Default(), r)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "is not absolute") {
					t.Fatalf("FromImage = %v, want a not-absolute error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Process.Cwd != tt.want {
				t.Errorf("process.cwd = %q, want %q", s.Process.Cwd, tt.want)
			}
		})
	}
}

func TestFromImageAnnotations(t *testing.T) {
	created := time.Date(2024, 5, 6, 7, 8, 9, 123000000, time.FixedZone("", 2*3600))
	img := ocispec.Image{
		Created: &created,
		Author:  "Jane <jane@example.org>",
		Platform: ocispec.Platform{
			Architecture: "arm",
			OS:           "linux",
			OSVersion:    "6.1",
			OSFeatures:   []string{"f1", "f2"},
			Variant:      "v7",
		},
		Config: ocispec.ImageConfig{
			Cmd:          []string{"nginx"},
			StopSignal:   "SIGQUIT",
			ExposedPorts: map[string]struct{}{"443/tcp": {}, "80/tcp": {}, "53/udp": {}, "8080": {}},
			Volumes:      map[string]struct{}{"/var/cache/nginx": {}},
			Labels: map[string]string{
				"maintainer":                          "someone",
				"org.opencontainers.image.os":         "label wins",
				"com.example.base":                    "label wins over base",
				"org.opencontainers.image.stopSignal": "SIGTERM",
			},
		},
	}
	base := Default()
	base.Annotations = map[string]string{"com.example.base": "base", "com.example.kept": "kept"}
	s, err := FromImage(base, ImageRun{Image: img})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"com.example.base":                      "label wins over base",
		"com.example.kept":                      "kept",
		"maintainer":                            "someone",
		"org.opencontainers.image.os":           "label wins",
		"org.opencontainers.image.architecture": "arm",
		"org.opencontainers.image.variant":      "v7",
		"org.opencontainers.image.os.version":   "6.1",
		"org.opencontainers.image.os.features":  "f1,f2",
		"org.opencontainers.image.author":       "Jane <jane@example.org>",
		"org.opencontainers.image.created":      "2024-05-06T07:08:09.123+02:00",
		"org.opencontainers.image.stopSignal":   "SIGTERM",
		"org.opencontainers.image.exposedPorts": "443/tcp,53/udp,80/tcp,8080",
	}
	if !reflect.DeepEqual(s.Annotations, want) {
		t.Errorf("annotations =\n%v\nwant\n%v", s.Annotations, want)
	}
	// Volumes are not converted: no mount beyond the default ones.
	if len(s.Mounts) != len(Default().Mounts) {
		t.Errorf("mounts = %+v, want Default()'s", s.Mounts)
	}

	// Without labels the derived annotations stand.
	img.Config.Labels = nil
	s, err = FromImage(Default(), ImageRun{Image: img})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Annotations["org.opencontainers.image.os"]; got != "linux" {
		t.Errorf("os annotation = %q, want linux", got)
	}
	if got := s.Annotations["org.opencontainers.image.stopSignal"]; got != "SIGQUIT" {
		t.Errorf("stopSignal annotation = %q, want SIGQUIT", got)
	}

	// An image with nothing to say leaves annotations out.
	s, err = FromImage(Default(), ImageRun{Image: ocispec.Image{Config: ocispec.ImageConfig{Cmd: []string{"sh"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Annotations != nil {
		t.Errorf("annotations = %v, want nil", s.Annotations)
	}
}

func TestFromImageHostname(t *testing.T) {
	img := ocispec.Image{Config: ocispec.ImageConfig{Cmd: []string{"hostname"}}}

	s, err := FromImage(Default(), ImageRun{Image: img, Hostname: "web1"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Hostname != "web1" || envValue(s.Process.Env, "HOSTNAME") != "web1" {
		t.Errorf("hostname %q, HOSTNAME %q, want web1 for both", s.Hostname, envValue(s.Process.Env, "HOSTNAME"))
	}

	s, err = FromImage(Default(), ImageRun{Image: img})
	if err != nil {
		t.Fatal(err)
	}
	if s.Hostname != "minirun" {
		t.Errorf("hostname = %q, want base's minirun", s.Hostname)
	}
	if slices.ContainsFunc(s.Process.Env, func(kv string) bool { return strings.HasPrefix(kv, "HOSTNAME=") }) {
		t.Errorf("process.env = %q, want no HOSTNAME without a hostname", s.Process.Env)
	}

	base := Default()
	base.Hostname = ""
	base.Linux.Namespaces = slices.DeleteFunc(base.Linux.Namespaces,
		func(ns specs.LinuxNamespace) bool { return ns.Type == specs.UTSNamespace })
	if _, err := FromImage(base, ImageRun{Image: img, Hostname: "web1"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("FromImage without a uts namespace = %v, want ErrInvalid", err)
	}
	if _, err := FromImage(base, ImageRun{Image: img}); err != nil {
		t.Errorf("FromImage without a uts namespace or hostname = %v", err)
	}
}

// fullRun uses every field of ImageRun.
func fullRun() ImageRun {
	created := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	return ImageRun{
		Image: ocispec.Image{
			Created:  &created,
			Author:   "someone",
			Platform: ocispec.Platform{Architecture: "amd64", OS: "linux"},
			Config: ocispec.ImageConfig{
				User:         "app",
				ExposedPorts: map[string]struct{}{"80/tcp": {}},
				Env:          []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "SECRET=image"},
				Entrypoint:   []string{"/docker-entrypoint.sh"},
				Cmd:          []string{"nginx", "-g", "daemon off;"},
				Volumes:      map[string]struct{}{"/data": {}},
				WorkingDir:   "/srv",
				Labels:       map[string]string{"maintainer": "someone"},
				StopSignal:   "SIGQUIT",
			},
		},
		Args:       []string{"nginx-debug"},
		Env:        []string{"LANG=en_US.UTF-8", "SECRET", "EXTRA=1"},
		HostEnv:    func(string) (string, bool) { return "", false },
		WorkingDir: "/srv/www",
		User:       "app:audio",
		Hostname:   "web1",
		RootFS:     testRootFS(),
	}
}

// TestFromImageValidates checks that Default() filled from an image is a
// config the package itself accepts, directly and through config.json.
func TestFromImageValidates(t *testing.T) {
	s, err := FromImage(Default(), fullRun())
	if err != nil {
		t.Fatal(err)
	}
	want := &specs.Process{
		Terminal: true,
		User:     specs.User{UID: 1000, GID: 18},
		Args:     []string{"/docker-entrypoint.sh", "nginx-debug"},
		Env: []string{
			"PATH=/usr/bin:/bin", "LANG=en_US.UTF-8", "EXTRA=1",
			"HOSTNAME=web1", "TERM=xterm", "HOME=/home/app",
		},
		Cwd:             "/srv/www",
		NoNewPrivileges: true,
		Capabilities:    Default().Process.Capabilities,
		Rlimits:         Default().Process.Rlimits,
	}
	if !reflect.DeepEqual(s.Process, want) {
		t.Errorf("process =\n%+v\nwant\n%+v", s.Process, want)
	}
	if s.Hostname != "web1" {
		t.Errorf("hostname = %q, want web1", s.Hostname)
	}

	data, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	bundle := newBundle(t, data)
	if err := Validate(s, bundle); err != nil {
		t.Errorf("Validate = %v", err)
	}
	loaded, err := Load(bundle)
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	if !reflect.DeepEqual(loaded, s) {
		t.Errorf("Load changed the config:\n got %+v\nwant %+v", loaded, s)
	}
}

// TestFromImageCopies checks that the result shares no memory with the run
// or the image config, which a caller may reuse for another container, and
// that a failed conversion leaves base alone.
func TestFromImageCopies(t *testing.T) {
	r := fullRun()
	r.User = ""
	r.Args = nil
	s, err := FromImage(Default(), r)
	if err != nil {
		t.Fatal(err)
	}
	for i := range s.Process.Args {
		s.Process.Args[i] = "changed"
	}
	for i := range s.Process.Env {
		s.Process.Env[i] = "CHANGED=1"
	}
	for i := range s.Process.User.AdditionalGids {
		s.Process.User.AdditionalGids[i] = 99
	}
	for k := range s.Annotations {
		s.Annotations[k] = "changed"
	}
	if want := fullRun().Image; !reflect.DeepEqual(r.Image, want) {
		t.Errorf("image changed through the result:\n got %+v\nwant %+v", r.Image, want)
	}

	r = fullRun()
	s, err = FromImage(Default(), r)
	if err != nil {
		t.Fatal(err)
	}
	s.Process.Args[0] = "changed"
	if r.Args[0] != "nginx-debug" || r.Image.Config.Entrypoint[0] != "/docker-entrypoint.sh" {
		t.Errorf("run changed through the result: args %q, entrypoint %q", r.Args, r.Image.Config.Entrypoint)
	}
	r.EntrypointSet, r.Entrypoint = true, []string{"/bin/ep"}
	s, err = FromImage(Default(), r)
	if err != nil {
		t.Fatal(err)
	}
	s.Process.Args[0] = "changed"
	if r.Entrypoint[0] != "/bin/ep" {
		t.Errorf("run entrypoint changed through the result: %q", r.Entrypoint)
	}

	// Each way of failing, after the steps before it have succeeded.
	failures := map[string]func(r *ImageRun){
		"command":  func(r *ImageRun) { r.EntrypointSet, r.Entrypoint, r.Args = true, nil, nil },
		"workdir":  func(r *ImageRun) { r.WorkingDir = "rel" },
		"user":     func(r *ImageRun) { r.User = "ghost" },
		"env":      func(r *ImageRun) { r.Env = []string{"=x"} },
		"hostname": nil, // checked in TestFromImageHostname
	}
	for name, fail := range failures {
		if fail == nil {
			continue
		}
		r := fullRun()
		fail(&r)
		base := Default()
		if _, err := FromImage(base, r); err == nil {
			t.Errorf("%s: FromImage succeeded, want an error", name)
		}
		if !reflect.DeepEqual(base, Default()) {
			t.Errorf("%s: a failed FromImage changed base:\n%+v", name, base)
		}
	}
}

func TestFromImageBase(t *testing.T) {
	r := ImageRun{Image: ocispec.Image{Config: ocispec.ImageConfig{Cmd: []string{"true"}}}}

	s, err := FromImage(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	if s.Root == nil || s.Root.Path != "rootfs" || !slices.Equal(s.Process.Args, []string{"true"}) {
		t.Errorf("FromImage(nil) = %+v, want Default() with args [true]", s)
	}

	// A bare base gets a process; its umask and other fields are kept.
	base := &specs.Spec{Version: specs.Version}
	s, err = FromImage(base, r)
	if err != nil {
		t.Fatal(err)
	}
	if s != base || s.Process == nil || s.Process.Cwd != "/" {
		t.Errorf("FromImage(bare) = %+v, want base filled in", s)
	}
	base = Default()
	umask := uint32(0o027)
	base.Process.User = specs.User{UID: 5, GID: 5, Umask: &umask, AdditionalGids: []uint32{7}}
	s, err = FromImage(base, r)
	if err != nil {
		t.Fatal(err)
	}
	if u := s.Process.User; u.UID != 0 || u.GID != 0 || u.AdditionalGids != nil || u.Umask == nil || *u.Umask != 0o027 {
		t.Errorf("user = %+v, want root with umask 027 kept", u)
	}
}
