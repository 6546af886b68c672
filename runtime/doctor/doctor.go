package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"

	"github.com/minirun/minirun/network"
	"github.com/minirun/minirun/rootfs"
)

// Status is how a finding weighs.
type Status string

const (
	// OK: nothing to do.
	OK Status = "ok"
	// Info: worth knowing, nothing fails because of it.
	Info Status = "info"
	// Warn: minirun runs containers, but something fails or works worse.
	Warn Status = "warn"
	// Fail: minirun cannot run a container (or a whole kind of them).
	Fail Status = "fail"
)

// Finding is what one check found.
type Finding struct {
	// Check names the check: "cgroups", "overlay", ...
	Check  string `json:"check"`
	Status Status `json:"status"`
	// Message says what is (for OK and Info) or what is wrong and what
	// fails because of it.
	Message string `json:"message"`
	// Fix is the command that fixes the problem, when there is one.
	Fix string `json:"fix,omitempty"`
}

// File is the content of a file the doctor read, or why it could not.
type File struct {
	Data string
	Err  error
}

// Route is one route of the host's main table: where it leads and
// through which link.
type Route struct {
	Dst netip.Prefix
	Dev string
}

// ImagePlatform is one image of the store and its platform, as
// image.Summary writes it ("linux/arm64/v8").
type ImagePlatform struct {
	Name     string
	Platform string
}

// Inputs is everything Check judges, as Gather read it from the machine.
type Inputs struct {
	// Root: the doctor ran as root, so it could try what needs privilege
	// (an overlay mount, asking nf_tables).
	Root    bool
	Cgroups CgroupInput
	// Mountinfo is the mountinfo of the doctor's mount namespace.
	Mountinfo File
	// Filesystems is /proc/filesystems.
	Filesystems File
	Overlay     OverlayTrial
	Store       StoreInput
	// IPForward is /proc/sys/net/ipv4/ip_forward.
	IPForward File
	// Nftables is nil when nf_tables answered a listing of its tables.
	Nftables error
	Routes   []Route
	// RoutesErr is why the routes could not be listed.
	RoutesErr error
	// Networks are minirun's networks, the default one first.
	Networks    []network.Network
	NetworksErr error
	DNS         network.DNSInput
	DNSErr      error
	// MaxUserNS is /proc/sys/user/max_user_namespaces.
	MaxUserNS File
	// HostPlatform is the platform minirun pulls for ("linux/amd64").
	HostPlatform string
	Images       []ImagePlatform
	ImagesErr    error
	// Binfmt names the enabled binfmt_misc handlers ("qemu-aarch64").
	Binfmt []string
}

// Check judges in: one finding per check, in the order doctor prints
// them. It makes no system call.
func Check(in Inputs) []Finding {
	mounts, mountsErr := rootfs.ParseMountInfo(in.Mountinfo.Data)
	if in.Mountinfo.Err != nil {
		mountsErr = in.Mountinfo.Err
	}
	return []Finding{
		checkCgroups(in.Cgroups),
		checkOverlay(in.Overlay, in.Filesystems),
		checkStore(in.Store),
		checkRoot(mounts, mountsErr),
		checkPropagation(mounts, mountsErr),
		checkNftables(in.Nftables, in.Root),
		checkIPForward(in.IPForward),
		checkSubnets(in.Networks, in.NetworksErr, in.Routes, in.RoutesErr),
		checkDNS(in.DNS, in.DNSErr),
		checkUserNS(in.MaxUserNS),
		checkImages(in.HostPlatform, in.Images, in.ImagesErr, in.Binfmt),
	}
}

// Healthy reports whether no finding is a failure or a warning: `minirun
// doctor` exits 0 then, 1 otherwise.
func Healthy(fs []Finding) bool {
	for _, f := range fs {
		if f.Status == Fail || f.Status == Warn {
			return false
		}
	}
	return true
}

// Render writes one line per finding, "ok    name: message", with the fix
// on an indented line below, then a count.
func Render(w io.Writer, fs []Finding) error {
	n := map[Status]int{}
	for _, f := range fs {
		n[f.Status]++
		label := string(f.Status)
		if f.Status == Fail {
			label = "FAIL" // the one a reader must not miss
		}
		if _, err := fmt.Fprintf(w, "%-5s %s: %s\n", label, f.Check, f.Message); err != nil {
			return err
		}
		if f.Fix != "" {
			if _, err := fmt.Fprintf(w, "      fix: %s\n", f.Fix); err != nil {
				return err
			}
		}
	}
	verdict := "all is well"
	if !Healthy(fs) {
		verdict = "exit status 1"
	}
	_, err := fmt.Fprintf(w, "%d ok, %d info, %d warn, %d fail: %s\n", n[OK], n[Info], n[Warn], n[Fail], verdict)
	return err
}

// Report is `minirun doctor --format json`'s output.
type Report struct {
	Healthy  bool      `json:"healthy"`
	Findings []Finding `json:"findings"`
}

// RenderJSON writes the findings as a Report.
func RenderJSON(w io.Writer, fs []Finding) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	e.SetEscapeHTML(false) // fixes hold shell commands: "&&", "<", ">"
	return e.Encode(Report{Healthy: Healthy(fs), Findings: fs})
}
