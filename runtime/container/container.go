package container

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/image"
	"github.com/minirun/minirun/network"
	"github.com/minirun/minirun/runtime"
)

// Sentinel errors callers branch on.
var (
	ErrNotFound  = errors.New("no such container")
	ErrAmbiguous = errors.New("ambiguous container ID prefix")
	ErrNameInUse = errors.New("container name already in use")
	ErrRunning   = errors.New("container is running")
)

// Status values of a container, as ps shows them.
const (
	StatusCreated = "created"
	StatusRunning = "running"
	StatusExited  = "exited"
)

// Record is what minirun keeps about a container made from an image, in
// STORE/containers/<id>/container.json.
type Record struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Image   string    `json:"image"`
	ImageID string    `json:"imageID"`
	Created time.Time `json:"created"`
	// Manifest is the image's manifest digest: what keeps its layers.
	Manifest digest.Digest `json:"manifest"`
	Command  []string      `json:"command"`
	// Options is how it was made, for start and inspect.
	Options RecordOptions `json:"options"`
	State   State         `json:"state"`
	// Network is how it is networked, and its address while it runs.
	Network NetworkSettings `json:"network"`
}

// RecordOptions are the run flags a container keeps for its later life.
type RecordOptions struct {
	AutoRemove  bool              `json:"autoRemove,omitempty"`
	Detach      bool              `json:"detach,omitempty"`
	Terminal    bool              `json:"terminal,omitempty"`
	Init        bool              `json:"init,omitempty"`
	StopSignal  string            `json:"stopSignal,omitempty"`
	StopTimeout int               `json:"stopTimeout,omitempty"` // seconds; 0: 10
	Labels      map[string]string `json:"labels,omitempty"`
	LogMaxSize  int64             `json:"logMaxSize,omitempty"`
	LogMaxFiles int               `json:"logMaxFiles,omitempty"`
}

// State is a container's life so far, as its monitor (or the foreground
// run) last wrote it. What is written can be out of date when the writer
// was killed; Manager.Status tells the truth.
type State struct {
	Status     string    `json:"status"`
	Pid        int       `json:"pid,omitempty"`
	MonitorPid int       `json:"monitorPid,omitempty"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	ExitCode   int       `json:"exitCode"`
	OOMKilled  bool      `json:"oomKilled,omitempty"`
	Error      string    `json:"error,omitempty"`
}

// Manager makes, runs and removes containers from images.
type Manager struct {
	store *image.Store
	rt    *runtime.Runtime
	log   *slog.Logger
	dir   string
	nets  *network.Manager // opened on first use: see Networks
}

// New returns a Manager whose containers live under the store.
func New(s *image.Store, rt *runtime.Runtime, log *slog.Logger) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{store: s, rt: rt, log: log, dir: filepath.Join(s.Root(), "containers")}
}

func (m *Manager) path(id string, elem ...string) string {
	return filepath.Join(append([]string{m.dir, id}, elem...)...)
}

// newID is 32 random bytes in hex, as docker's container IDs.
func newID() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ShortID is the 12 characters ps shows.
func (r *Record) ShortID() string { return r.ID[:12] }

// lock serializes what must see all containers at once: picking a unique
// name, renaming, removing. flock(2) on STORE/containers/.lock.
func (m *Manager) lock() (func(), error) {
	if err := os.MkdirAll(m.dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(m.dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock containers: %w", err)
	}
	return func() { f.Close() }, nil
}

// Records lists the containers' records, oldest first.
func (m *Manager) Records() ([]*Record, error) {
	ents, err := os.ReadDir(m.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Record
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		rec, err := m.Load(e.Name())
		if err != nil {
			continue // being created or removed right now
		}
		out = append(out, rec)
	}
	slices.SortFunc(out, func(a, b *Record) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// Load reads the record of the container id (a full ID).
func (m *Manager) Load(id string) (*Record, error) {
	b, err := os.ReadFile(m.path(id, "container.json"))
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	return &r, nil
}

func (m *Manager) save(r *Record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	p := m.path(r.ID, "container.json")
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// runLockFile is the container's run lock: the process that runs the
// container holds it (flock(2), LOCK_EX) from the container's creation or
// start to its end, across the handover from run -d to the monitor, which
// inherits the open file. gc leaves every container whose lock is held
// alone. Unlike a pid written down, a flock cannot go stale: the kernel
// drops it when the last file holding it closes, which a SIGKILL'd
// holder's exit does.
const runLockFile = "run.lock"

// lockRun takes the container's run lock (how: LOCK_EX, with LOCK_NB not
// to wait); flag is os.O_CREATE where the lock file may still have to be
// made. A lock held elsewhere fails with unix.EWOULDBLOCK.
func (m *Manager) lockRun(id string, how, flag int) (*os.File, error) {
	f, err := os.OpenFile(m.path(id, runLockFile), os.O_RDWR|flag, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, &os.PathError{Op: "flock", Path: f.Name(), Err: err}
	}
	return f, nil
}

// runHeld reports whether a live process holds the container's run lock.
// It asks with a shared lock, so that two lookers never take each other
// for a holder.
func (m *Manager) runHeld(id string) bool {
	f, err := m.lockRun(id, unix.LOCK_SH|unix.LOCK_NB, 0)
	if err != nil {
		return errors.Is(err, unix.EWOULDBLOCK)
	}
	f.Close()
	return false
}

// update changes a record's state under its own lock (container.lock), so
// that the monitor and the commands never lose each other's writes.
func (m *Manager) update(id string, f func(*Record)) (*Record, error) {
	lk, err := os.OpenFile(m.path(id, "container.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	defer lk.Close()
	if err := unix.Flock(int(lk.Fd()), unix.LOCK_EX); err != nil {
		return nil, err
	}
	r, err := m.Load(id)
	if err != nil {
		return nil, err
	}
	f(r)
	return r, m.save(r)
}

// Resolve finds a container by name, full ID or unique ID prefix, as every
// docker-style command accepts them.
func (m *Manager) Resolve(ref string) (*Record, error) {
	recs, err := m.Records()
	if err != nil {
		return nil, err
	}
	var byPrefix []*Record
	for _, r := range recs {
		if r.Name == ref || r.ID == ref {
			return r, nil
		}
		if strings.HasPrefix(r.ID, ref) {
			byPrefix = append(byPrefix, r)
		}
	}
	switch {
	case len(byPrefix) == 1 && ref != "":
		return byPrefix[0], nil
	case len(byPrefix) > 1 && ref != "":
		return nil, fmt.Errorf("%w: %s matches %d containers", ErrAmbiguous, ref, len(byPrefix))
	}
	return nil, fmt.Errorf("%w: %s", ErrNotFound, ref)
}

// ImagesInUse maps each image manifest that a container was made from to
// those containers' names. It is image.InUseFunc.
func (m *Manager) ImagesInUse() (map[digest.Digest][]string, error) {
	recs, err := m.Records()
	if err != nil {
		return nil, err
	}
	used := map[digest.Digest][]string{}
	for _, r := range recs {
		used[r.Manifest] = append(used[r.Manifest], r.Name)
	}
	return used, nil
}

// Inspection is `minirun inspect`'s view of a container.
type Inspection struct {
	*Record
	// State here is the truth (Manager.Status), not only what was written.
	State   State       `json:"state"`
	Config  *specs.Spec `json:"config,omitempty"`
	Dir     string      `json:"dir"`
	LogPath string      `json:"logPath"`
}

// Inspect gathers what inspect shows.
func (m *Manager) Inspect(r *Record) (*Inspection, error) {
	in := &Inspection{Record: r, State: m.Status(r), Dir: m.path(r.ID), LogPath: m.path(r.ID, "log.json")}
	if b, err := os.ReadFile(m.path(r.ID, "config.json")); err == nil {
		var s specs.Spec
		if json.Unmarshal(b, &s) == nil {
			in.Config = &s
		}
	}
	return in, nil
}
