package spec

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// validProcess returns a process that passes ValidateProcess, for cases to
// break one field of.
func validProcess() *specs.Process {
	return &specs.Process{
		Args: []string{"ls", "-l"},
		Env:  []string{"PATH=/bin", "EMPTY="},
		Cwd:  "/srv",
		Capabilities: &specs.LinuxCapabilities{
			Bounding:  []string{"CAP_KILL", "CAP_SYS_ADMIN"},
			Permitted: []string{"CAP_KILL"},
		},
		Rlimits:     []specs.POSIXRlimit{{Type: "RLIMIT_CORE", Soft: 0, Hard: 0}},
		OOMScoreAdj: new(-1000),
	}
}

func TestValidateProcess(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *specs.Process)
		want   string // "" when the process is valid
	}{
		{name: "valid"},
		{
			name:   "well-formed but unknown capability",
			mutate: func(p *specs.Process) { p.Capabilities.Effective = []string{"CAP_FUTURE_THING"} },
			want:   `capabilities.effective[0] "CAP_FUTURE_THING" is not a Linux capability`,
		},
		{name: "oomScoreAdj at the top", mutate: func(p *specs.Process) { p.OOMScoreAdj = new(1000) }},
		{name: "no args", mutate: func(p *specs.Process) { p.Args = []string{} }, want: "args must not be empty"},
		{name: "relative cwd", mutate: func(p *specs.Process) { p.Cwd = "srv" }, want: `cwd "srv" is not absolute`},
		{name: "env without =", mutate: func(p *specs.Process) { p.Env[1] = "EMPTY" }, want: `env[1] "EMPTY"`},
		{name: "env without name", mutate: func(p *specs.Process) { p.Env[0] = "=x" }, want: `env[0] "=x"`},
		{
			name:   "unknown rlimit",
			mutate: func(p *specs.Process) { p.Rlimits[0].Type = "RLIMIT_core" },
			want:   `rlimits[0].type "RLIMIT_core" is unknown`,
		},
		{
			name:   "soft above hard",
			mutate: func(p *specs.Process) { p.Rlimits[0].Soft = 1 },
			want:   "rlimits[0].soft 1 is above hard limit 0",
		},
		{
			name:   "capability with a digit",
			mutate: func(p *specs.Process) { p.Capabilities.Bounding[1] = "CAP_SYS_ADMIN2" },
			want:   `capabilities.bounding[1] "CAP_SYS_ADMIN2"`,
		},
		{
			name:   "capability with a space",
			mutate: func(p *specs.Process) { p.Capabilities.Permitted[0] = " CAP_KILL" },
			want:   `capabilities.permitted[0] " CAP_KILL"`,
		},
		{
			name:   "oomScoreAdj too low",
			mutate: func(p *specs.Process) { p.OOMScoreAdj = new(-1001) },
			want:   "oomScoreAdj -1001 is outside -1000..1000",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validProcess()
			if tt.mutate != nil {
				tt.mutate(p)
			}
			err := ValidateProcess(p)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ValidateProcess = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ValidateProcess = %v, want an error wrapping ErrInvalid", err)
			}
			// A lone process names its fields from the process object, so
			// without the "process." a config.json would have.
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.want) {
				t.Errorf("ValidateProcess = %q, want it to start with %q", msg, tt.want)
			}
		})
	}

	if err := ValidateProcess(nil); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "process is missing") {
		t.Errorf("ValidateProcess(nil) = %v, want ErrInvalid naming the process", err)
	}
}

func TestLoadProcess(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		json string // "" for no file at all
		// want is the process on success, wantErr substrings on failure.
		want    *specs.Process
		wantErr []string
	}{
		{
			name: "valid, with unknown fields",
			json: `{"args": ["ps", "aux"], "cwd": "/", "env": ["A=1"], "terminal": true, "x-extra": 1}`,
			want: &specs.Process{Args: []string{"ps", "aux"}, Cwd: "/", Env: []string{"A=1"}, Terminal: true},
		},
		{name: "missing", wantErr: []string{"open ", "no such file or directory"}},
		{name: "syntax", json: `{"args": ["sh"],, "cwd": "/"}`, wantErr: []string{"line 1, column 17", "invalid character ','"}},
		{name: "wrong type", json: `{"args": ["sh"], "cwd": 1}`, wantErr: []string{"cwd: cannot use JSON number as string"}},
		{name: "no args", json: `{"cwd": "/"}`, wantErr: []string{"args must not be empty"}},
		{name: "relative cwd", json: `{"args": ["sh"], "cwd": "tmp"}`, wantErr: []string{`cwd "tmp" is not absolute`}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("process%d.json", i))
			if tt.json != "" {
				writeFile(t, path, []byte(tt.json))
			}
			p, err := LoadProcess(path)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("LoadProcess: %v", err)
				}
				if !reflect.DeepEqual(p, tt.want) {
					t.Errorf("LoadProcess = %+v, want %+v", p, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("LoadProcess = %+v, want an error", p)
			}
			msg := err.Error()
			if !strings.Contains(msg, path) {
				t.Errorf("error %q does not name the file %s", msg, path)
			}
			// A missing file is fs.ErrNotExist; anything wrong inside it is ErrInvalid.
			missing := tt.json == ""
			if errors.Is(err, fs.ErrNotExist) != missing || errors.Is(err, ErrInvalid) == missing {
				t.Errorf("error %q: errors.Is ErrNotExist = %v, ErrInvalid = %v; want %v, %v",
					msg, errors.Is(err, fs.ErrNotExist), errors.Is(err, ErrInvalid), missing, !missing)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}
