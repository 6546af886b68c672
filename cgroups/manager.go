package cgroups

import (
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minirun/minirun/internal/explain"
)

// DefaultRoot is where Linux distributions mount cgroups.
const DefaultRoot = "/sys/fs/cgroup"

// Config says which cgroup a container gets and what limits it holds.
type Config struct {
	// Root is the cgroup mount root; "" means DefaultRoot.
	Root string
	// Mode is the host's cgroup mode; 0 means Detect(Root).
	Mode Mode
	// Path is linux.cgroupsPath: absolute from the hierarchy root
	// ("/minirun/c1"), or relative to the cgroup of the calling process as
	// /proc/self/cgroup shows it (the "0::" line on v2, each controller's
	// own line on v1). "" means "minirun/<ID>", relative.
	Path string
	// ID is the container's id, used only when Path is "".
	ID string
	// Resources is linux.resources; nil means no limits.
	Resources *specs.LinuxResources
	// Log receives, at Debug level, one line per file written, in kernel
	// terms and with the linux.resources field it came from. nil discards.
	Log *slog.Logger
	// Explain receives each directory made and each file written by
	// Create, with the field and conversion it came from (--explain).
	Explain *explain.Sink
}

// State is everything a Manager needs after Create, so that another
// minirun process (state, kill, pause, delete, ...) can rebuild it with
// Load. It is meant to be saved as JSON in the container's state.
type State struct {
	Mode Mode `json:"mode"`
	// Dirs maps a controller to the container's cgroup directory in its
	// hierarchy. On v2 there is one hierarchy, under the key "":
	// {"": "/sys/fs/cgroup/minirun/c1"}. On v1 there is one entry per
	// hierarchy used: {"memory": "/sys/fs/cgroup/memory/minirun/c1", ...};
	// co-mounted controllers ("cpu,cpuacct") share a directory.
	Dirs map[string]string `json:"dirs"`
}

// Manager creates, limits, freezes, kills, measures and removes one
// container's cgroup.
type Manager struct {
	state State
	// mounts maps each key of state.Dirs to its hierarchy's mount point
	// ("" → "/sys/fs/cgroup" on v2). Create needs it to know which levels
	// to make; Load cannot know it, so a loaded Manager cannot Create.
	mounts map[string]string
	writes []Write // from Config.Resources, for Create
	log    *slog.Logger
	ex     *explain.Sink

	// mkdir and rmdir are the two operations whose kernel behaviour a
	// plain directory cannot imitate (a new cgroup comes with its
	// interface files; rmdir removes them). Tests replace them.
	mkdir, rmdir func(string) error
	// wait bounds how long Freeze, Thaw and Kill wait for the kernel to
	// catch up (Destroy has its own destroyWait).
	wait time.Duration
}

// v1Controllers are the v1 hierarchies the fallback uses, in the order it
// visits them.
var v1Controllers = []string{"cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids"}

// New resolves the container's cgroup directories and checks the resources
// against the mode's plan. It reads /proc/self/cgroup when the path is
// relative (and on v1), but creates and writes nothing.
func New(c Config) (*Manager, error) {
	return newManager(c, func() ([]byte, error) { return os.ReadFile("/proc/self/cgroup") })
}

func newManager(c Config, readSelf func() ([]byte, error)) (*Manager, error) {
	if c.Root == "" {
		c.Root = DefaultRoot
	}
	if c.Mode == 0 {
		mode, err := Detect(c.Root)
		if err != nil {
			return nil, err
		}
		c.Mode = mode
	}
	if c.Mode < Unified || c.Mode > Legacy {
		return nil, fmt.Errorf("new cgroup manager: unknown mode %d", int(c.Mode))
	}
	writes, err := planFor(c.Mode)(c.Resources)
	if err != nil {
		return nil, err
	}
	p, abs, err := containerPath(c.Path, c.ID)
	if err != nil {
		return nil, err
	}
	var self procCgroup
	if !abs || c.Mode.v1() {
		text, err := readSelf()
		if err != nil {
			return nil, fmt.Errorf("read own cgroup: %w", err)
		}
		if self, err = parseProcCgroup(string(text)); err != nil {
			return nil, err
		}
	}
	m := Load(State{Mode: c.Mode, Dirs: map[string]string{}}, c.Log)
	m.mounts, m.writes = map[string]string{}, writes
	m.ex = c.Explain
	if c.Mode == Unified {
		if !abs && !self.HasUnified {
			return nil, fmt.Errorf("cgroup path %q is relative, but /proc/self/cgroup has no cgroup v2 (0::) line", p)
		}
		if m.state.Dirs[""], err = join(c.Root, self.Unified, p, abs); err != nil {
			return nil, err
		}
		m.mounts[""] = c.Root
		return m, nil
	}
	for _, ctrl := range v1Controllers {
		h, ok := self.V1[ctrl]
		if !ok {
			continue
		}
		mount := v1Mount(c.Root, ctrl, h)
		if mount == "" {
			continue
		}
		if m.state.Dirs[ctrl], err = join(mount, h.Path, p, abs); err != nil {
			return nil, err
		}
		m.mounts[ctrl] = mount
	}
	for _, ctrl := range controllers(writes) {
		if _, ok := m.state.Dirs[ctrl]; !ok {
			return nil, fmt.Errorf("cgroup v1 controller %s is not mounted under %s, and linux.resources needs it", ctrl, c.Root)
		}
	}
	if len(m.state.Dirs) == 0 {
		return nil, fmt.Errorf("new cgroup manager: none of the v1 controllers %s is mounted under %s", strings.Join(v1Controllers, ", "), c.Root)
	}
	return m, nil
}

// planFor returns the plan function of a mode.
func planFor(mode Mode) func(*specs.LinuxResources) ([]Write, error) {
	if mode.v1() {
		return PlanV1
	}
	return PlanV2
}

// v1Mount finds where a v1 controller's hierarchy is mounted: root/<ctrl>,
// or for co-mounted controllers root/<list> ("cpu,cpuacct"; distributions
// add root/cpu as a symlink to it). "" when neither exists.
func v1Mount(root, ctrl string, h v1Hierarchy) string {
	for _, name := range []string{ctrl, strings.Join(h.Controllers, ",")} {
		dir := filepath.Join(root, name)
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			// Resolve the symlink so that co-mounted controllers share
			// one directory string.
			if real, err := filepath.EvalSymlinks(dir); err == nil {
				return real
			}
			return dir
		}
	}
	return ""
}

// Load rebuilds a Manager from a State saved after Create. It cannot
// Create again; everything else works.
func Load(st State, log *slog.Logger) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st.Dirs = maps.Clone(st.Dirs)
	return &Manager{
		state: st, log: log,
		mkdir: func(dir string) error { return os.Mkdir(dir, 0o755) },
		rmdir: rmdir,
		wait:  5 * time.Second,
	}
}

// State returns what Load needs to rebuild this Manager.
func (m *Manager) State() State {
	return State{Mode: m.state.Mode, Dirs: maps.Clone(m.state.Dirs)}
}

// Dir returns the container's cgroup v2 directory, which the runtime opens
// with O_PATH|O_DIRECTORY for SysProcAttr.UseCgroupFD (clone3 with
// CLONE_INTO_CGROUP). It is "" on v1, where a process joins by Enter.
func (m *Manager) Dir() string {
	if m.state.Mode != Unified {
		return ""
	}
	return m.state.Dirs[""]
}

// dirs returns the distinct directories of the container, sorted, so that
// co-mounted v1 controllers are visited once.
func (m *Manager) dirs() []string {
	return slices.Compact(slices.Sorted(maps.Values(m.state.Dirs)))
}
