package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/minirun/minirun/image"
	"github.com/minirun/minirun/rootfs"
	"github.com/minirun/minirun/runtime"
	"github.com/minirun/minirun/runtime/spec"
)

// Pull policies, as docker's --pull.
const (
	PullMissing = "missing"
	PullAlways  = "always"
	PullNever   = "never"
)

// RunOptions are what `minirun run IMAGE [CMD...]` was asked.
type RunOptions struct {
	Image string
	Args  []string
	Name  string
	// Remove deletes the container when it exits (--rm).
	Remove bool
	// Pull is the pull policy: missing (default), always, never.
	Pull        string
	PullOptions image.PullOptions
	// Notice receives "Unable to find image locally", as docker says it.
	Notice io.Writer

	Entrypoint    []string
	EntrypointSet bool
	Env           []string
	WorkingDir    string
	User          string
	Hostname      string

	Stdio runtime.Stdio
}

// ErrImageNotFound is returned when the image is neither in the store nor
// to be pulled.
var ErrImageNotFound = errors.New("image not found")

func (m *Manager) resolve(ctx context.Context, o RunOptions) (*image.Image, error) {
	if o.Pull == PullAlways {
		res, err := m.store.Pull(ctx, o.Image, o.PullOptions)
		if err != nil {
			return nil, err
		}
		return res.Image, nil
	}
	im, err := m.store.Get(o.Image)
	if err == nil || !errors.Is(err, image.ErrNotFound) {
		return im, err
	}
	if o.Pull == PullNever {
		return nil, fmt.Errorf("%w: %s (and --pull never)", ErrImageNotFound, o.Image)
	}
	if o.Notice != nil {
		fmt.Fprintf(o.Notice, "Unable to find image '%s' locally\n", o.Image)
	}
	res, err := m.store.Pull(ctx, o.Image, o.PullOptions)
	if err != nil {
		return nil, err
	}
	return res.Image, nil
}

// Run makes a container from an image, runs it in the foreground and
// returns its exit status. With Remove, nothing of it remains afterwards.
func (m *Manager) Run(ctx context.Context, o RunOptions) (_ runtime.ExitStatus, err error) {
	switch o.Pull {
	case "", PullMissing, PullAlways, PullNever:
	default:
		return runtime.ExitStatus{}, fmt.Errorf("--pull %q: must be missing, always or never", o.Pull)
	}
	im, err := m.resolve(ctx, o)
	if err != nil {
		return runtime.ExitStatus{}, err
	}
	id := newID()
	ov, err := m.prepare(id, im, o)
	if err != nil {
		m.Remove(id)
		return runtime.ExitStatus{}, err
	}
	defer func() {
		// A container that never ran is not kept, --rm or not.
		if o.Remove || err != nil {
			m.Remove(id)
		}
	}()
	return m.rt.Run(id, runtime.RunOpts{CreateOpts: runtime.CreateOpts{
		Bundle:  m.path(id),
		Overlay: ov,
		Stdio:   o.Stdio,
	}})
}

// prepare writes the container's directory: record, config.json, and the
// empty directories of its overlay.
func (m *Manager) prepare(id string, im *image.Image, o RunOptions) (*rootfs.Overlay, error) {
	lower, err := m.store.LayerDirs(im)
	if err != nil {
		return nil, err
	}
	view, err := m.store.RootFS(im)
	if err != nil {
		return nil, err
	}
	base := spec.Default()
	base.Root.Readonly = false
	base.Process.Terminal = false
	s, err := spec.FromImage(base, spec.ImageRun{
		Image:         im.Config,
		Args:          o.Args,
		Entrypoint:    o.Entrypoint,
		EntrypointSet: o.EntrypointSet,
		Env:           o.Env,
		HostEnv:       os.LookupEnv,
		WorkingDir:    o.WorkingDir,
		User:          o.User,
		Hostname:      o.Hostname,
		RootFS:        view,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", im.Name, err)
	}
	if err := os.MkdirAll(m.dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Mkdir(m.path(id), 0o700); err != nil {
		return nil, err
	}
	// upper/ becomes the merged root's top directory, so it gets the mode
	// a root directory has.
	for _, d := range []string{"rootfs", "upper", "work"} {
		if err := os.Mkdir(m.path(id, d), 0o755); err != nil {
			return nil, err
		}
	}
	cfg, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(m.path(id, "config.json"), cfg, 0o600); err != nil {
		return nil, err
	}
	rec := Record{ID: id, Name: o.Name, Image: im.Name, ImageID: im.ID.String(), Manifest: im.Digest,
		Created: time.Now().UTC(), Command: s.Process.Args}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(m.path(id, "container.json"), b, 0o600); err != nil {
		return nil, err
	}
	return &rootfs.Overlay{Lower: lower, Upper: m.path(id, "upper"), Work: m.path(id, "work")}, nil
}
