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
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/minirun/minirun/image"
	"github.com/minirun/minirun/runtime"
)

// Record is what minirun keeps about a container made from an image.
type Record struct {
	ID      string    `json:"id"`
	Name    string    `json:"name,omitempty"`
	Image   string    `json:"image"`
	ImageID string    `json:"imageID"`
	Created time.Time `json:"created"`
	// Manifest is the image's manifest digest: what keeps its layers.
	Manifest digest.Digest `json:"manifest"`
	Command  []string      `json:"command"`
}

// Manager makes, runs and removes containers from images.
type Manager struct {
	store *image.Store
	rt    *runtime.Runtime
	log   *slog.Logger
	dir   string
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

// Records lists the containers' records.
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
		rec, err := m.record(e.Name())
		if err != nil {
			continue // being created or removed right now
		}
		out = append(out, rec)
	}
	return out, nil
}

func (m *Manager) record(id string) (*Record, error) {
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

// ImagesInUse maps each image manifest that a container was made from to
// those containers' names (or IDs). It is image.InUseFunc.
func (m *Manager) ImagesInUse() (map[digest.Digest][]string, error) {
	recs, err := m.Records()
	if err != nil {
		return nil, err
	}
	used := map[digest.Digest][]string{}
	for _, r := range recs {
		used[r.Manifest] = append(used[r.Manifest], r.label())
	}
	return used, nil
}

func (r *Record) label() string {
	if r.Name != "" {
		return r.Name
	}
	return r.ID[:12]
}

// Remove deletes a container's directory: record, bundle and writable
// layer. The runtime state must be gone already.
func (m *Manager) Remove(id string) error {
	if err := os.RemoveAll(m.path(id)); err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	return nil
}
