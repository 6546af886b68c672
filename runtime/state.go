package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/minirun/minirun/cgroups"
)

// Files in a container's state directory, ROOT/ID/.
const (
	recordFile = "state.json" // the record below, written once create succeeds
	exitFile   = "exit.json"  // how init ended, when minirun saw it end
	fifoFile   = "exec.fifo"  // exists from create until start: init blocks on it
	// cgroupFile names the cgroup create is about to make, written before
	// it exists: a create killed before its record leaves this for delete
	// and gc to find the cgroup by.
	cgroupFile = "cgroup.json"
)

// Status is a container's status as the OCI runtime spec names it.
type Status string

const (
	Creating Status = "creating"
	Created  Status = "created"
	Running  Status = "running"
	Stopped  Status = "stopped"
	Paused   Status = "paused"
)

// record is what minirun keeps about a container between commands. The pid
// alone cannot identify init, since pids are reused; the pair (pid, start
// time in clock ticks since boot) can.
type record struct {
	ID          string            `json:"id"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Pid         int               `json:"pid"`
	PidStart    uint64            `json:"pidStartTime"`
	Created     time.Time         `json:"created"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Spec is the config.json as it was at create: later edits of the
	// bundle must not change hooks or exec defaults of a live container.
	Spec *specs.Spec `json:"spec"`
	// Cgroup locates the container's cgroup(s), so that later commands
	// can freeze, update, kill and remove it.
	Cgroup *cgroups.State `json:"cgroup,omitempty"`
}

// ExitStatus says why init ended: a code from exit(2), or a signal.
type ExitStatus struct {
	Code   int    `json:"code"`
	Signal string `json:"signal,omitempty"`
	// OOMKilled: the kernel's OOM killer ended a process of the
	// container (memory.events oom_kill grew), with MemoryLimit the
	// container's limit in bytes (0: none set).
	OOMKilled   bool  `json:"oomKilled,omitempty"`
	MemoryLimit int64 `json:"memoryLimit,omitempty"`
}

// ExitCode is the status a shell would report: the code, or 128+signal.
func (e ExitStatus) String() string {
	if e.Signal != "" {
		return fmt.Sprintf("killed by %s (exit %d)", e.Signal, e.Code)
	}
	return fmt.Sprintf("exited with %d", e.Code)
}

// writeJSON replaces dir/name atomically: readers see the old file or the
// new one, never a half-written one, because rename(2) within a
// directory is atomic.
func writeJSON(dir, name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", filepath.Join(dir, name), err)
	}
	return nil
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	return nil
}

// loadRecord reads the record of id. A directory without a record is a
// container still being created (or one whose create crashed).
func (r *Runtime) loadRecord(id string) (*record, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	var rec record
	err := readJSON(filepath.Join(r.dir(id), recordFile), &rec)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, notExist(id)
	}
	if err != nil {
		return nil, err
	}
	return &rec, nil
}

func (r *Runtime) loadExit(id string) *ExitStatus {
	var e ExitStatus
	if readJSON(filepath.Join(r.dir(id), exitFile), &e) != nil {
		return nil
	}
	return &e
}
