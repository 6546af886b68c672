package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/image"
	"github.com/minirun/minirun/internal/explain"
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
	Name  string
	// Remove deletes the container when it exits (--rm).
	Remove bool
	// Detach runs the container under a monitor process and returns once
	// it runs (-d).
	Detach bool
	// Interactive keeps stdin attached (-i); without it the process reads
	// /dev/null.
	Interactive bool
	// Pull is the pull policy: missing (default), always, never.
	Pull        string
	PullOptions image.PullOptions
	// Notice receives "Unable to find image locally", as docker says it.
	Notice io.Writer
	// Spec is what becomes the runtime spec; Image, RootFS and EtcFiles
	// are filled in here.
	Spec spec.ImageRun
	// Volumes are -v's, parsed; named ones live under STORE/volumes.
	Volumes []spec.VolumeSpec
	// Net are the network flags: --network, -p, -P, --dns...
	Net         NetworkOptions
	StopTimeout int
	Log         LogOptions

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
	if err == nil && m.rt.Explain.Enabled() {
		m.rt.Explain.Step(explain.Step{Phase: explain.PhaseResolve, Man: "OCI image-spec image-layout.md",
			Text:   fmt.Sprintf("%s → %s in %s/index.json: manifest %s, %d layers already unpacked", o.Image, im.Name, m.store.Root(), im.Digest, len(im.Manifest.Layers)),
			Fields: map[string]any{"op": "resolve", "name": im.Name, "digest": im.Digest.String()}})
	}
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

// create makes a container from an image: its record, bundle and empty
// writable layer. Nothing runs yet. It returns the container's run lock,
// held: the caller runs the container, or hands the lock to its monitor.
func (m *Manager) create(ctx context.Context, o RunOptions) (*Record, *os.File, error) {
	switch o.Pull {
	case "", PullMissing, PullAlways, PullNever:
	default:
		return nil, nil, fmt.Errorf("--pull %q: must be missing, always or never", o.Pull)
	}
	im, err := m.resolve(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	unlock, err := m.lock()
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	name, err := m.uniqueName(o.Name)
	if err != nil {
		return nil, nil, err
	}
	id := newID()
	rec, err := m.prepare(id, name, im, o)
	var held *os.File
	if err == nil {
		// Still under the store's lock, which gc takes too: gc never
		// sees this container before its run lock is held.
		held, err = m.lockRun(id, unix.LOCK_EX|unix.LOCK_NB, os.O_CREATE)
	}
	if err != nil {
		m.removeDir(id)
		return nil, nil, err
	}
	return rec, held, nil
}

// prepare writes the container's directory: record, config.json, the
// overlay's directories, /etc files.
func (m *Manager) prepare(id, name string, im *image.Image, o RunOptions) (*Record, error) {
	lower, err := m.store.LayerDirs(im)
	if err != nil {
		return nil, err
	}
	view, err := m.store.RootFS(im)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(m.dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Mkdir(m.path(id), 0o700); err != nil {
		return nil, err
	}
	// upper/ becomes the merged root's top directory, so it gets the mode
	// a root directory has.
	for _, d := range []string{"rootfs", "upper", "work", "etc"} {
		if err := os.Mkdir(m.path(id, d), 0o755); err != nil {
			return nil, err
		}
	}
	r := o.Spec
	r.HostCapabilities = runtime.BoundingSet()
	r.Image = im.Config
	r.RootFS = view
	ns, err := m.networkSettings(o.Net, im.Config.Config.ExposedPorts)
	if err != nil {
		return nil, err
	}
	specNetwork(ns, &r)
	if r.Hostname == "" && ns.Mode != NetHost {
		r.Hostname = id[:12]
	}
	if r.EtcFiles, err = m.etcFiles(id, r.Hostname, ns); err != nil {
		return nil, err
	}
	if r.Volumes, err = m.volumes(id, o.Volumes); err != nil {
		return nil, err
	}
	if r.Init {
		if r.InitPath, err = m.initBinary(r.InitPath); err != nil {
			return nil, err
		}
	}
	s, err := spec.FromImage(spec.DockerDefault(), r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", im.Name, err)
	}
	cfg, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(m.path(id, "config.json"), cfg, 0o600); err != nil {
		return nil, err
	}
	ov := rootfs.Overlay{Lower: lower, Upper: m.path(id, "upper"), Work: m.path(id, "work")}
	ovb, _ := json.Marshal(ov)
	if err := os.WriteFile(m.path(id, "overlay.json"), ovb, 0o600); err != nil {
		return nil, err
	}
	stopSignal := r.StopSignal
	if stopSignal == "" {
		stopSignal = im.Config.Config.StopSignal
	}
	rec := &Record{ID: id, Name: name, Image: im.Name, ImageID: im.ID.String(), Manifest: im.Digest,
		Created: time.Now().UTC(), Command: s.Process.Args,
		Options: RecordOptions{AutoRemove: o.Remove, Detach: o.Detach, Terminal: r.Terminal, Init: r.Init, StopSignal: stopSignal, StopTimeout: o.StopTimeout,
			Labels: r.Labels, LogMaxSize: o.Log.MaxSize, LogMaxFiles: o.Log.MaxFiles},
		State: State{Status: StatusCreated}, Network: ns}
	if err := m.save(rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// etcFiles writes the container's /etc/hostname, /etc/hosts and
// /etc/resolv.conf, which are bind-mounted over the image's, as docker
// does: they belong to the container, not to the image. On a bridge,
// /etc/hosts is written again with the address at each start.
func (m *Manager) etcFiles(id, hostname string, ns NetworkSettings) (map[string]string, error) {
	h, err := hosts(hostname, netip.Addr{}, ns.AddHosts)
	if err != nil {
		return nil, err
	}
	resolv, err := m.resolvConf(ns)
	if err != nil {
		return nil, err
	}
	files := map[string]string{
		"/etc/hostname":    hostname + "\n",
		"/etc/hosts":       h,
		"/etc/resolv.conf": resolv,
	}
	out := map[string]string{}
	for target, content := range files {
		p := m.path(id, "etc", filepath.Base(target))
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return nil, err
		}
		out[target] = p
	}
	return out, nil
}

// volumes turns -v's into bind mounts: a host path as is; a named volume
// is STORE/volumes/NAME/_data (made on first use, kept until removed); an
// anonymous one lives in the container's directory and goes with it.
func (m *Manager) volumes(id string, vs []spec.VolumeSpec) ([]spec.Volume, error) {
	var out []spec.Volume
	for i, v := range vs {
		src := v.Source
		switch {
		case v.Named && src == "":
			src = m.path(id, "volumes", fmt.Sprint(i))
		case v.Named:
			src = filepath.Join(m.store.Root(), "volumes", v.Source, "_data")
		}
		if v.Named {
			if err := os.MkdirAll(src, 0o755); err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Source, err)
			}
		} else if _, err := os.Stat(src); err != nil {
			return nil, fmt.Errorf("-v %s: %w", v.Source, err)
		}
		out = append(out, spec.Volume{Source: src, Target: v.Target, ReadOnly: v.ReadOnly})
	}
	return out, nil
}

func (m *Manager) overlay(id string) (*rootfs.Overlay, error) {
	b, err := os.ReadFile(m.path(id, "overlay.json"))
	if err != nil {
		return nil, err
	}
	var ov rootfs.Overlay
	return &ov, json.Unmarshal(b, &ov)
}

func (m *Manager) removeDir(id string) {
	if id == "" || len(id) != 64 {
		return
	}
	// Out of sight first, with one rename(2): gc must never find the
	// directory half removed, its record gone but not the rest, and
	// take it for a container whose making died. The run lock goes along
	// (a flock belongs to the file, not to its name), so gc leaves the
	// renamed directory to a remover that is still at it.
	dir := filepath.Join(m.dir, removingPrefix+id)
	if err := os.Rename(m.path(id), dir); err != nil {
		dir = m.path(id)
	}
	// The lock file last: while it exists, gc can ask it whether the
	// remover lives.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != runLockFile {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
	os.RemoveAll(dir)
}

// removingPrefix names a container directory on its way out.
const removingPrefix = ".removing-"

// Run makes a container from an image and runs it in the foreground,
// returning its exit status (o.Detach is RunDetached's). With Remove,
// nothing of it remains after.
func (m *Manager) Run(ctx context.Context, o RunOptions) (runtime.ExitStatus, error) {
	rec, held, err := m.create(ctx, o)
	if err != nil {
		return runtime.ExitStatus{}, err
	}
	defer held.Close()
	es, err := m.runForeground(rec, o)
	if o.Remove || err != nil && rec.State.Status == StatusCreated {
		m.rt.Delete(rec.ID, true)
		m.removeDir(rec.ID)
		m.rt.Explain.Stepf(explain.PhaseTeardown, "Documentation/filesystems/overlayfs.rst", "--rm: network detached, container directory %s (overlay upper and work dirs) removed", m.path(rec.ID))
	}
	return es, err
}

func (m *Manager) runForeground(rec *Record, o RunOptions) (runtime.ExitStatus, error) {
	ov, err := m.overlay(rec.ID)
	if err != nil {
		return runtime.ExitStatus{}, err
	}
	stdio := o.Stdio
	if !o.Interactive && stdio.Stdin == nil {
		devnull, err := os.Open(os.DevNull)
		if err != nil {
			return runtime.ExitStatus{}, err
		}
		defer devnull.Close()
		stdio.Stdin = devnull
	}
	attach, netDown, err := m.netUp(context.Background(), rec)
	if err != nil {
		return runtime.ExitStatus{}, err
	}
	defer netDown()
	es, err := m.rt.Run(rec.ID, runtime.RunOpts{
		CreateOpts: runtime.CreateOpts{Bundle: m.path(rec.ID), Overlay: ov, Stdio: stdio},
		Created:    attach,
		Started: func(pid int) {
			m.update(rec.ID, func(r *Record) {
				r.State = State{Status: StatusRunning, Pid: pid, MonitorPid: os.Getpid(), StartedAt: time.Now().UTC()}
			})
			rec.State.Status = StatusRunning
		},
	})
	if err != nil {
		return es, err
	}
	m.update(rec.ID, func(r *Record) { r.State = exited(r.State, es) })
	return es, nil
}

func exited(st State, es runtime.ExitStatus) State {
	st.Status = StatusExited
	st.Pid = 0
	st.MonitorPid = 0
	st.FinishedAt = time.Now().UTC()
	st.ExitCode = es.Code
	st.OOMKilled = es.OOMKilled
	return st
}
