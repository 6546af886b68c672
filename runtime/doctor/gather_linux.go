package doctor

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/cgroups"
	"github.com/minirun/minirun/image"
	"github.com/minirun/minirun/network"
	"github.com/minirun/minirun/rootfs"
)

// Options say where Gather looks.
type Options struct {
	// Store is the image store's directory; "" means image.DefaultRoot.
	Store string
	// CgroupRoot is where the cgroup filesystems are mounted; "" means
	// cgroups.DefaultRoot.
	CgroupRoot string
}

// Diagnose reads this machine and checks it.
func Diagnose(o Options) []Finding { return Check(Gather(o)) }

// Gather reads what Check judges from this machine, as the calling
// process sees it (its mount, network and cgroup namespaces). A part it
// cannot read carries the error, for Check to report; Gather itself never
// fails. As root it also mounts a trial overlay (see trialOverlay) and
// asks nf_tables for its tables.
func Gather(o Options) Inputs {
	if o.Store == "" {
		o.Store = image.DefaultRoot
	}
	if o.CgroupRoot == "" {
		o.CgroupRoot = cgroups.DefaultRoot
	}
	if abs, err := filepath.Abs(o.Store); err == nil {
		o.Store = abs
	}
	in := Inputs{
		Root: os.Geteuid() == 0,
		// thread-self, not self: /proc/self shows the main thread's
		// mount namespace, and the thread a trial overlay ran on may
		// have been the main thread, which Go then parks for good, in the
		// trial's namespace.
		Mountinfo:    readFile("/proc/thread-self/mountinfo"),
		Filesystems:  readFile("/proc/filesystems"),
		IPForward:    readFile("/proc/sys/net/ipv4/ip_forward"),
		MaxUserNS:    readFile("/proc/sys/user/max_user_namespaces"),
		Cgroups:      gatherCgroups(o.CgroupRoot),
		HostPlatform: hostPlatform(),
		Binfmt:       binfmtHandlers(),
	}
	mounts, _ := rootfs.ParseMountInfo(in.Mountinfo.Data)
	in.Store = gatherStore(o.Store, mounts)
	in.Overlay = OverlayTrial{Store: o.Store, Dir: in.Store.Dir, FSType: in.Store.FSType}
	if in.Root {
		in.Overlay.Tried = true
		switch {
		case in.Store.Err != nil:
			in.Overlay.Err = in.Store.Err
		case in.Store.ReadOnly:
			in.Overlay.Err = errors.New("the filesystem is read-only")
		default:
			in.Overlay.Err = trialOverlay(in.Store.Dir)
		}
		in.Nftables = probeNftables()
	}
	in.Routes, in.RoutesErr = hostRoutes()
	in.Networks, in.NetworksErr = storeNetworks(o.Store)
	in.DNS, in.DNSErr = network.ReadHostDNS()
	in.Images, in.ImagesErr = storeImages(o.Store)
	return in
}

func readFile(path string) File {
	b, err := os.ReadFile(path)
	return File{Data: string(b), Err: err}
}

// probeID names the container whose cgroup the doctor resolves (and never
// makes).
const probeID = "doctor-probe"

func gatherCgroups(root string) CgroupInput {
	in := CgroupInput{Root: root}
	mode, err := cgroups.Detect(root)
	if err != nil {
		in.Err = err
		return in
	}
	in.Mode = mode
	// The path runtime's newCgroup gives a container without
	// linux.cgroupsPath: on v2 /minirun/<id> from the hierarchy's root
	// (minirun's own cgroup has processes, so it could pass on no
	// controllers), on v1 minirun/<id> below minirun's own cgroup in each
	// hierarchy. New resolves it and creates nothing.
	var path string
	if mode == cgroups.Unified {
		path = "/minirun/" + probeID
	}
	m, err := cgroups.New(cgroups.Config{Root: root, Mode: mode, Path: path, ID: probeID})
	if err != nil {
		in.Err = err
		return in
	}
	in.Dirs = m.State().Dirs
	switch mode {
	case cgroups.Unified:
		parent := filepath.Dir(in.Dirs[""])
		for parent != root && parent != "/" {
			if _, err := os.Stat(parent); err == nil {
				break
			}
			parent = filepath.Dir(parent)
		}
		in.Parent = parent
		// The kernel gives every cgroup but the hierarchy's root a
		// cgroup.type file (CFTYPE_NOT_ON_ROOT); a cgroup namespace's
		// root has one too, and is not exempt from "no internal
		// processes".
		_, err := os.Stat(filepath.Join(parent, "cgroup.type"))
		in.ParentIsRoot = errors.Is(err, fs.ErrNotExist)
		in.Controllers = readFile(filepath.Join(parent, "cgroup.controllers"))
		in.Procs = readFile(filepath.Join(parent, "cgroup.procs"))
	case cgroups.Hybrid:
		in.Unified = readFile(filepath.Join(root, "unified", "cgroup.controllers"))
	}
	return in
}

// gatherStore looks at the store, or where it will be made: its nearest
// existing ancestor, which minirun's first pull extends.
func gatherStore(store string, mounts []mount) StoreInput {
	s := StoreInput{Path: store, Dir: store}
	for {
		_, err := os.Stat(s.Dir)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || s.Dir == "/" {
			s.Err = err
			return s
		}
		s.Dir = filepath.Dir(s.Dir)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(s.Dir, &st); err != nil {
		s.Err = &os.PathError{Op: "statfs", Path: s.Dir, Err: err}
		return s
	}
	s.Avail, s.Size = st.Bavail*uint64(st.Bsize), st.Blocks*uint64(st.Bsize)
	s.ReadOnly = st.Flags&unix.ST_RDONLY != 0
	s.Writable = unix.Access(s.Dir, unix.W_OK) == nil
	// mountinfo names mount points by their real paths.
	real := s.Dir
	if r, err := filepath.EvalSymlinks(s.Dir); err == nil {
		real = r
	}
	if m, ok := mountAt(mounts, real); ok {
		s.Mount, s.FSType = m.Point, m.FSType
	}
	return s
}

// probeNftables asks nf_tables for its ip tables in this network
// namespace: the first thing minirun does before it adds its own.
func probeNftables() error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("connect to nftables: %w", err)
	}
	if _, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4); err != nil {
		return fmt.Errorf("list nftables tables: %w", err)
	}
	return nil
}

// hostRoutes lists the IPv4 routes of the main table with their links'
// names.
func hostRoutes() ([]Route, error) {
	var rs []netlink.Route
	var err error
	// A dump that raced a change of the table is retried: it may be
	// incomplete.
	for range 3 {
		if rs, err = netlink.RouteList(nil, netlink.FAMILY_V4); !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	links, err := netlink.LinkList()
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return nil, fmt.Errorf("list links: %w", err)
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	var out []Route
	for _, r := range rs {
		dst := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		if r.Dst != nil {
			a, ok := netip.AddrFromSlice(r.Dst.IP.To4())
			ones, _ := r.Dst.Mask.Size()
			if !ok {
				continue
			}
			dst = netip.PrefixFrom(a, ones)
		}
		out = append(out, Route{Dst: dst, Dev: names[r.LinkIndex]})
	}
	return out, nil
}

// storeNetworks lists the default network and the store's named ones
// (STORE/networks, where runtime/container keeps them), without making
// the directory when there is none.
func storeNetworks(store string) ([]network.Network, error) {
	dir := filepath.Join(store, "networks")
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return []network.Network{network.Default()}, nil
	} else if err != nil {
		return []network.Network{network.Default()}, err
	}
	m, err := network.Open(dir)
	if err != nil {
		return []network.Network{network.Default()}, err
	}
	defer m.Close()
	nets, err := m.List()
	if err != nil {
		return []network.Network{network.Default()}, err
	}
	return nets, nil
}

// storeImages lists the store's images and their platforms, without
// making a store where there is none.
func storeImages(store string) ([]ImagePlatform, error) {
	if _, err := os.Stat(filepath.Join(store, "index.json")); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	s, err := image.Open(store, nil)
	if err != nil {
		return nil, err
	}
	ims, err := s.List()
	if err != nil {
		return nil, err
	}
	var out []ImagePlatform
	for _, sum := range image.Summarize(ims) {
		out = append(out, ImagePlatform{Name: sum.Name, Platform: sum.Platform})
	}
	return out, nil
}

func hostPlatform() string {
	p := image.HostPlatform()
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// binfmtHandlers names the enabled handlers of binfmt_misc, where it is
// mounted: each is a file whose first line says "enabled" or "disabled".
func binfmtHandlers() []string {
	const dir = "/proc/sys/fs/binfmt_misc"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if e.Name() == "register" || e.Name() == "status" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err == nil && strings.HasPrefix(string(b), "enabled") {
			out = append(out, e.Name())
		}
	}
	return out
}
