package runtime

import (
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ExecFlags are exec's command-line overrides of the container's process.
type ExecFlags struct {
	Args []string
	Env  []string // K=V, added to (or replacing) the container's
	Cwd  string
	User string // UID[:GID]
	TTY  bool
	// AdditionalGids and Caps add to the base; NoNewPrivs forces the flag on.
	AdditionalGids []uint32
	Caps           []string
	NoNewPrivs     bool
}

// ExecProcess builds the process for `minirun exec` the way runc does:
// start from the container's own process (so the exec'd one gets the same
// capabilities, rlimits and no_new_privs), then apply the flags.
func ExecProcess(base *specs.Process, f ExecFlags) (*specs.Process, error) {
	if len(f.Args) == 0 {
		return nil, fmt.Errorf("exec: no command given")
	}
	var p specs.Process
	if base != nil {
		p = *base
		p.Env = append([]string(nil), base.Env...)
		p.User.AdditionalGids = append([]uint32(nil), base.User.AdditionalGids...)
	}
	p.Args = f.Args
	p.Terminal = f.TTY
	p.ConsoleSize = nil
	for _, kv := range f.Env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("exec: --env %q is not KEY=VALUE", kv)
		}
		p.Env = setEnv(p.Env, kv)
	}
	if f.Cwd != "" {
		if !strings.HasPrefix(f.Cwd, "/") {
			return nil, fmt.Errorf("exec: --cwd %q is not an absolute path", f.Cwd)
		}
		p.Cwd = f.Cwd
	}
	if f.User != "" {
		uid, gid, err := parseUser(f.User)
		if err != nil {
			return nil, err
		}
		p.User.UID, p.User.GID = uid, gid
	}
	p.User.AdditionalGids = append(p.User.AdditionalGids, f.AdditionalGids...)
	if len(f.Caps) > 0 {
		c := specs.LinuxCapabilities{}
		if p.Capabilities != nil {
			c = *p.Capabilities
		}
		for _, name := range f.Caps {
			name = strings.ToUpper(name)
			if !strings.HasPrefix(name, "CAP_") {
				name = "CAP_" + name
			}
			c.Bounding = append(c.Bounding, name)
			c.Effective = append(c.Effective, name)
			c.Permitted = append(c.Permitted, name)
			// Never the inheritable set (CVE-2022-29162): a program with
			// the capability in its inheritable file set would then gain
			// it at execve. Ambient is raised only where the spec made the
			// capability inheritable already, as the kernel requires.
			c.Ambient = append(c.Ambient, name)
		}
		p.Capabilities = &c
	}
	if f.NoNewPrivs {
		p.NoNewPrivileges = true
	}
	return &p, nil
}

func setEnv(env []string, kv string) []string {
	k, _, _ := strings.Cut(kv, "=")
	for i, e := range env {
		if ek, _, _ := strings.Cut(e, "="); ek == k {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}

// parseUser parses UID[:GID]; numbers only, since names would have to be
// looked up in the container's /etc/passwd.
func parseUser(s string) (uid, gid uint32, err error) {
	us, gs, hasGID := strings.Cut(s, ":")
	u, err := strconv.ParseUint(us, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("exec: --user %q: uid must be a number", s)
	}
	if !hasGID {
		return uint32(u), 0, nil
	}
	g, err := strconv.ParseUint(gs, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("exec: --user %q: gid must be a number", s)
	}
	return uint32(u), uint32(g), nil
}
