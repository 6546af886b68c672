package spec

import (
	"math"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// checkErr fails t unless err is nil when wantErr is empty, or an error
// whose text contains wantErr.
func checkErr(t *testing.T, err error, wantErr string) bool {
	t.Helper()
	switch {
	case wantErr == "" && err != nil:
		t.Errorf("unexpected error: %v", err)
	case wantErr != "" && err == nil:
		t.Errorf("no error, want one containing %q", wantErr)
	case wantErr != "" && !strings.Contains(err.Error(), wantErr):
		t.Errorf("error %q does not contain %q", err, wantErr)
	default:
		return true
	}
	return false
}

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{"0", 0, ""},
		{"4096", 4096, ""},
		{"512b", 512, ""},
		{"512B", 512, ""},
		{"1k", 1024, ""},
		{"1K", 1024, ""},
		{"1kb", 1024, ""},
		{"1KiB", 1024, ""},
		{"512m", 512 << 20, ""},
		{"64M", 64 << 20, ""},
		{"1g", 1 << 30, ""},
		{"1.5g", 3 << 29, ""},
		{".5k", 512, ""},
		{"10 MB", 10 << 20, ""},
		{"2GiB", 2 << 30, ""},
		{"3t", 3 << 40, ""},
		{"1p", 1 << 50, ""},
		{"0.1k", 102, ""}, // fractions of a byte are dropped, as in docker
		{"1.9b", 1, ""},
		{"8191p", 8191 << 50, ""},

		{"", 0, `invalid size "": want a number and an optional unit`},
		{"m", 0, `invalid size "m": want a number`},
		{"-1", 0, `invalid size "-1": want a number`},
		{" 1m", 0, `invalid size " 1m": want a number`},
		{".", 0, `invalid size ".": want a number`},
		{"1.2.3m", 0, `invalid size "1.2.3m": want a number`},
		{"1x", 0, `invalid size "1x": unknown unit "x" (want b, k, m, g, t or p)`},
		{"1kk", 0, `unknown unit "kk"`},
		{"1mbb", 0, `unknown unit "mbb"`},
		{"1bb", 0, `unknown unit "bb"`},
		{"1bib", 0, `unknown unit "bib"`},
		{"1  m", 0, `unknown unit " m"`},
		{"1m ", 0, `unknown unit "m "`},
		{"1e3", 0, `unknown unit "e3"`},
		{"8192p", 0, `invalid size "8192p": more than 9223372036854775807 bytes`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseBytes(tt.in)
			if checkErr(t, err, tt.wantErr) && got != tt.want {
				t.Errorf("ParseBytes(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseMemorySwap(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{"-1", -1, ""},
		{"1g", 1 << 30, ""},
		{"0", 0, ""},
		{"-2", 0, `invalid size "-2"`},
		{"-1m", 0, `invalid size "-1m"`},
	}
	for _, tt := range tests {
		got, err := ParseMemorySwap(tt.in)
		if checkErr(t, err, tt.wantErr) && got != tt.want {
			t.Errorf("ParseMemorySwap(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestParseCPUs(t *testing.T) {
	tests := []struct {
		in      string
		want    float64
		wantErr string
	}{
		{"1", 1, ""},
		{"1.5", 1.5, ""},
		{"0.25", 0.25, ""},
		{"0", 0, ""},
		{"3/2", 1.5, ""},
		{"0.000000001", 1e-9, ""},
		{"64", 64, ""},

		{"", 0, `invalid number of CPUs "": not a number`},
		{"two", 0, `invalid number of CPUs "two": not a number`},
		{"1,5", 0, "not a number"},
		{"-1", 0, `invalid number of CPUs "-1": negative`},
		{"0.0000000001", 0, "more precise than 0.000000001"},
		{"1/3", 0, "more precise than 0.000000001"},
		{"1e20", 0, `invalid number of CPUs "1e20": too many`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseCPUs(tt.in)
			if checkErr(t, err, tt.wantErr) && got != tt.want {
				t.Errorf("ParseCPUs(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseUlimit(t *testing.T) {
	const inf = math.MaxUint64
	tests := []struct {
		in      string
		want    specs.POSIXRlimit
		wantErr string
	}{
		{"nofile=1024:2048", specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 2048}, ""},
		{"nproc=512", specs.POSIXRlimit{Type: "RLIMIT_NPROC", Soft: 512, Hard: 512}, ""},
		{"core=-1", specs.POSIXRlimit{Type: "RLIMIT_CORE", Soft: inf, Hard: inf}, ""},
		{"memlock=-1:-1", specs.POSIXRlimit{Type: "RLIMIT_MEMLOCK", Soft: inf, Hard: inf}, ""},
		{"stack=8388608:-1", specs.POSIXRlimit{Type: "RLIMIT_STACK", Soft: 8388608, Hard: inf}, ""},
		{"rttime=0", specs.POSIXRlimit{Type: "RLIMIT_RTTIME", Soft: 0, Hard: 0}, ""},
		{"sigpending=10:10", specs.POSIXRlimit{Type: "RLIMIT_SIGPENDING", Soft: 10, Hard: 10}, ""},

		{"nofile", specs.POSIXRlimit{}, `invalid ulimit "nofile": want NAME=SOFT[:HARD]`},
		{"NOFILE=1", specs.POSIXRlimit{}, `invalid ulimit "NOFILE=1": unknown name "NOFILE"`},
		{"as=1", specs.POSIXRlimit{}, `unknown name "as"`},
		{"nofile=2048:1024", specs.POSIXRlimit{}, `invalid ulimit "nofile=2048:1024": soft limit 2048 is above hard limit 1024`},
		{"nofile=-1:100", specs.POSIXRlimit{}, "soft limit -1 is above hard limit 100"},
		{"nofile=1:2:3", specs.POSIXRlimit{}, "more than SOFT:HARD"},
		{"nofile=x", specs.POSIXRlimit{}, `limit "x" is neither a number nor -1`},
		{"nofile=", specs.POSIXRlimit{}, `limit "" is neither a number nor -1`},
		{"nofile=1:", specs.POSIXRlimit{}, `limit "" is neither`},
		{"nofile=-2", specs.POSIXRlimit{}, `limit "-2" is neither`},
		{"nofile=18446744073709551615", specs.POSIXRlimit{}, "is neither a number nor -1"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseUlimit(tt.in)
			if checkErr(t, err, tt.wantErr) && got != tt.want {
				t.Errorf("ParseUlimit(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
	// Every name maps to a type Validate knows.
	for name, typ := range ulimitTypes {
		if !slices.Contains(rlimitTypes, typ) {
			t.Errorf("ulimit %s maps to %s, which Validate does not know", name, typ)
		}
	}
}

func TestParseVolume(t *testing.T) {
	tests := []struct {
		in      string
		want    VolumeSpec
		wantErr string
	}{
		{"/srv/data:/data", VolumeSpec{Source: "/srv/data", Target: "/data"}, ""},
		{"/srv/data:/data:ro", VolumeSpec{Source: "/srv/data", Target: "/data", ReadOnly: true}, ""},
		{"/srv/data:/data:rw", VolumeSpec{Source: "/srv/data", Target: "/data"}, ""},
		{"/srv//x/../data/:/var/./lib/:ro", VolumeSpec{Source: "/srv/data", Target: "/var/lib", ReadOnly: true}, ""},
		{"/etc/hosts:/etc/hosts", VolumeSpec{Source: "/etc/hosts", Target: "/etc/hosts"}, ""},
		{"pgdata:/var/lib/postgresql/data", VolumeSpec{Source: "pgdata", Named: true, Target: "/var/lib/postgresql/data"}, ""},
		{"my_vol.1-x:/v:ro", VolumeSpec{Source: "my_vol.1-x", Named: true, Target: "/v", ReadOnly: true}, ""},
		{"a:/x", VolumeSpec{Source: "a", Named: true, Target: "/x"}, ""},
		{"/cache", VolumeSpec{Named: true, Target: "/cache"}, ""},
		{"/cache/", VolumeSpec{Named: true, Target: "/cache"}, ""},

		{"", VolumeSpec{}, `invalid volume "": empty target`},
		{"cache", VolumeSpec{}, `invalid volume "cache": target "cache" is not absolute`},
		{"/", VolumeSpec{}, `invalid volume "/": target cannot be /`},
		{"/h:/", VolumeSpec{}, "target cannot be /"},
		{"/h:/x/..", VolumeSpec{}, "target cannot be /"},
		{"/h:rel", VolumeSpec{}, `target "rel" is not absolute`},
		{"/h:", VolumeSpec{}, "empty target"},
		{":/c", VolumeSpec{}, `invalid volume ":/c": empty source`},
		{"./data:/x", VolumeSpec{}, `source "./data" is neither an absolute path nor a volume name`},
		{"data/sub:/x", VolumeSpec{}, "neither an absolute path nor a volume name"},
		{"_x:/x", VolumeSpec{}, "neither an absolute path nor a volume name"},
		{"da ta:/x", VolumeSpec{}, "neither an absolute path nor a volume name"},
		{"/cache:ro", VolumeSpec{}, `invalid volume "/cache:ro": an anonymous volume takes no mode`},
		{"/h:/c:z", VolumeSpec{}, `mode "z" is not ro or rw`},
		{"/h:/c:ro,Z", VolumeSpec{}, `mode "ro,Z" is not ro or rw`},
		{"/h:/c:ro:x", VolumeSpec{}, "want [SOURCE:]TARGET[:ro|rw]"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseVolume(tt.in)
			if checkErr(t, err, tt.wantErr) && got != tt.want {
				t.Errorf("ParseVolume(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseTmpfs(t *testing.T) {
	tests := []struct {
		in      string
		want    Tmpfs
		wantErr string
	}{
		{"/run", Tmpfs{Target: "/run"}, ""},
		{"/run:size=64m", Tmpfs{Target: "/run", Options: "size=64m"}, ""},
		{"/run/:exec,mode=1777,uid=1000,gid=1000", Tmpfs{Target: "/run", Options: "exec,mode=1777,uid=1000,gid=1000"}, ""},
		{"/tmp:rw,nr_inodes=1k,defaults", Tmpfs{Target: "/tmp", Options: "rw,nr_inodes=1k,defaults"}, ""},

		{"", Tmpfs{}, `invalid tmpfs "": empty target`},
		{"run", Tmpfs{}, `invalid tmpfs "run": target "run" is not absolute`},
		{"/", Tmpfs{}, "target cannot be /"},
		{":size=1m", Tmpfs{}, "empty target"},
		{"/run:foo", Tmpfs{}, `invalid tmpfs "/run:foo": option "foo" is not a tmpfs option`},
		{"/run:size", Tmpfs{}, `option "size" is not a tmpfs option`},
		{"/run:size=", Tmpfs{}, `option "size=" is not a tmpfs option`},
		{"/run:bind", Tmpfs{}, `option "bind" is not a tmpfs option`},
		{"/run:size=1m,,exec", Tmpfs{}, `option "" is not a tmpfs option`},
		{"/run:colour=red", Tmpfs{}, `option "colour=red" is not a tmpfs option`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTmpfs(tt.in)
			if checkErr(t, err, tt.wantErr) && got != tt.want {
				t.Errorf("ParseTmpfs(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

// TestTmpfsOptions checks the merge of docker's defaults with the user's
// options, which docker's MergeTmpfsOptions does: of options that set the
// same thing, the last stays, in its place.
func TestTmpfsOptions(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", []string{"noexec", "nosuid", "nodev", "rprivate"}},
		{"size=64m", []string{"noexec", "nosuid", "nodev", "rprivate", "size=64m"}},
		{"exec", []string{"nosuid", "nodev", "rprivate", "exec"}},
		{"suid,dev,exec", []string{"rprivate", "suid", "dev", "exec"}},
		{"size=1m,mode=700,size=2m", []string{"noexec", "nosuid", "nodev", "rprivate", "mode=700", "size=2m"}},
		{"ro,rw", []string{"noexec", "nosuid", "nodev", "rprivate", "rw"}},
		{"shared", []string{"noexec", "nosuid", "nodev", "shared"}},
		{"defaults,noatime", []string{"noexec", "nosuid", "nodev", "rprivate", "noatime"}},
		{"noatime,relatime", []string{"noexec", "nosuid", "nodev", "rprivate", "noatime", "relatime"}},
	}
	for _, tt := range tests {
		got, err := tmpfsOptions(tt.in)
		if err != nil {
			t.Errorf("tmpfsOptions(%q): %v", tt.in, err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("tmpfsOptions(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// The defaults are not changed by a merge.
	if !slices.Equal(tmpfsDefaults, []string{"noexec", "nosuid", "nodev", "rprivate"}) {
		t.Errorf("tmpfsDefaults changed to %q", tmpfsDefaults)
	}
}

func TestParseEnvFile(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string
	}{
		{
			name: "docker's format",
			in: "\uFEFF# a comment\n" +
				"PLAIN=value\n" +
				"\n" +
				"   \t\n" +
				"  INDENTED=kept as is  \n" +
				"QUOTED=\"not unquoted\"\n" +
				"EMPTY=\n" +
				"EQUALS=a=b\n" +
				"BARE\n" +
				"  # indented comment\n" +
				"WINDOWS=1\r\n" +
				"LAST=no newline",
			want: []string{
				"PLAIN=value", "INDENTED=kept as is  ", `QUOTED="not unquoted"`, "EMPTY=",
				"EQUALS=a=b", "BARE", "WINDOWS=1", "LAST=no newline",
			},
		},
		{name: "empty", in: "", want: nil},
		{name: "comments only", in: "# x\n\n#y=1\n", want: nil},
		{name: "bom only on the first line", in: "A=1\n\uFEFFB=2\n", want: []string{"A=1", "\uFEFFB=2"}},
		{name: "space in name", in: "A=1\nMY VAR=1\n", wantErr: `env file line 2: variable name "MY VAR" contains whitespace`},
		{name: "tab in name", in: "MY\tVAR=1\n", wantErr: "env file line 1: variable name \"MY\\tVAR\" contains whitespace"},
		{name: "trailing space in bare name", in: "BARE \n", wantErr: `env file line 1: variable name "BARE " contains whitespace`},
		{name: "no name", in: "\n=value\n", wantErr: `env file line 2: no variable name in "=value"`},
		{name: "not utf-8", in: "A=1\nB=\xff\n", wantErr: "env file line 2: not UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEnvFile(strings.NewReader(tt.in))
			if checkErr(t, err, tt.wantErr) && !slices.Equal(got, tt.want) {
				t.Errorf("ParseEnvFile = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestParseEnvFileBare checks that a bare KEY goes through FromImage's rule
// for -e KEY: the caller's value, or no variable at all.
func TestParseEnvFileBare(t *testing.T) {
	env, err := ParseEnvFile(strings.NewReader("HOSTVAR\nGONE\nSET=1\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := ImageRun{
		Image:   imageWith(func(c *imageConfig) { c.Env = []string{"GONE=image", "PATH=/bin"} }),
		Env:     env,
		HostEnv: func(k string) (string, bool) { return map[string]string{"HOSTVAR": "from host"}[k], k == "HOSTVAR" },
	}
	s, err := FromImage(DockerDefault(), r)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"PATH=/bin", "HOSTVAR=from host", "SET=1", "HOME=/"}
	if !slices.Equal(s.Process.Env, want) {
		t.Errorf("process.env = %q, want %q", s.Process.Env, want)
	}
}

func TestParseSysctl(t *testing.T) {
	tests := []struct {
		in         string
		key, value string
		wantErr    string
	}{
		{"net.ipv4.ip_forward=1", "net.ipv4.ip_forward", "1", ""},
		{"net.ipv4.ping_group_range=0 2147483647", "net.ipv4.ping_group_range", "0 2147483647", ""},
		{"kernel.shmmax=68719476736", "kernel.shmmax", "68719476736", ""},
		{"kernel.sem=250 32000 100 128", "kernel.sem", "250 32000 100 128", ""},
		{"fs.mqueue.msg_max=20", "fs.mqueue.msg_max", "20", ""},
		{"kernel.domainname=example.org", "kernel.domainname", "example.org", ""},
		{"net.core.somaxconn=", "net.core.somaxconn", "", ""},
		{"net.x=a=b", "net.x", "a=b", ""},

		{"net.ipv4.ip_forward", "", "", `invalid sysctl "net.ipv4.ip_forward": want KEY=VALUE`},
		{"=1", "", "", `key "" is not a dotted sysctl name`},
		{"net/ipv4/ip_forward=1", "", "", `key "net/ipv4/ip_forward" is not a dotted sysctl name`},
		{"net..x=1", "", "", "is not a dotted sysctl name"},
		{"kernel.pid_max=1", "", "", `invalid sysctl "kernel.pid_max=1": "kernel.pid_max" is not namespaced: it would change the host`},
		{"vm.swappiness=1", "", "", `"vm.swappiness" is not namespaced`},
		{"fs.file-max=1", "", "", "is not namespaced"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			key, value, err := ParseSysctl(tt.in)
			if checkErr(t, err, tt.wantErr) && (key != tt.key || value != tt.value) {
				t.Errorf("ParseSysctl(%q) = %q, %q, want %q, %q", tt.in, key, value, tt.key, tt.value)
			}
		})
	}
}

func TestParseLabel(t *testing.T) {
	tests := []struct {
		in         string
		key, value string
		wantErr    string
	}{
		{"com.example.team=web", "com.example.team", "web", ""},
		{"flag", "flag", "", ""},
		{"empty=", "empty", "", ""},
		{"eq=a=b", "eq", "a=b", ""},
		{" \tspaced=value with spaces ", "spaced", "value with spaces ", ""},

		{"", "", "", `invalid label "": empty name`},
		{"=x", "", "", `invalid label "=x": empty name`},
		{"  =x", "", "", "empty name"},
		{"a b=c", "", "", `invalid label "a b=c": name "a b" contains whitespace`},
		{"ab =c", "", "", `name "ab " contains whitespace`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			key, value, err := ParseLabel(tt.in)
			if checkErr(t, err, tt.wantErr) && (key != tt.key || value != tt.value) {
				t.Errorf("ParseLabel(%q) = %q, %q, want %q, %q", tt.in, key, value, tt.key, tt.value)
			}
		})
	}
}
