package test

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/minirun/minirun/internal/testenv"
	"github.com/minirun/minirun/runtime/spec"
)

// Tests of `inspect --ns`: what the report says of real containers must be
// what the test itself reads of their processes under /proc.

// nsReport is what the tests read of `inspect --ns --format json`.
type nsReport struct {
	Pid        int   `json:"pid"`
	NSpid      []int `json:"nspid"`
	Namespaces []struct {
		Type      string `json:"type"`
		Container string `json:"container"`
		Host      string `json:"host"`
		Minirun   string `json:"minirun"`
		Shared    string `json:"shared"`
	} `json:"namespaces"`
	Cgroup struct {
		Lines  []string `json:"lines"`
		Limits struct {
			MemoryMax uint64 `json:"memoryMax"`
			PidsMax   uint64 `json:"pidsMax"`
		} `json:"limits"`
	} `json:"cgroup"`
	Capabilities map[string]struct {
		Mask  string   `json:"mask"`
		Names []string `json:"names"`
	} `json:"capabilities"`
	Seccomp struct {
		Mode       int  `json:"mode"`
		Filters    int  `json:"filters"`
		NoNewPrivs bool `json:"noNewPrivs"`
	} `json:"seccomp"`
	Network struct {
		Namespace  string `json:"namespace"`
		Shared     string `json:"shared"`
		Interfaces []struct {
			Name      string   `json:"name"`
			Type      string   `json:"type"`
			Addresses []string `json:"addresses"`
		} `json:"interfaces"`
	} `json:"network"`
}

func (r nsReport) ns(typ string) (link, shared string) {
	for _, n := range r.Namespaces {
		if n.Type == typ {
			return n.Container, n.Shared
		}
	}
	return "", ""
}

func (e *ctrEnv) nsReport(ref string) nsReport {
	e.t.Helper()
	r := e.must("inspect", "--ns", "--format", "json", ref)
	var rep nsReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		e.t.Fatalf("inspect --ns: %v\n%v", err, r)
	}
	return rep
}

// procStatus reads the "Key:" lines of /proc/PID/status.
func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for line := range strings.Lines(string(b)) {
		k, v, _ := strings.Cut(line, ":")
		out[k] = strings.TrimSpace(v)
	}
	return out
}

// dockerDefaultCaps are docker's 14 default capabilities, in bit order.
var dockerDefaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
	"CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP",
}

func TestInspectNS(t *testing.T) {
	testenv.RequireRoot(t)
	e := newCtrEnv(t)
	id := e.runD("--name", "web", "-m", "64m", "--pids-limit", "50", e.ref, "sleep", "300")
	rep := e.nsReport("web")
	pid := e.inspect(id).State.Pid
	if rep.Pid != pid || len(rep.NSpid) < 2 || rep.NSpid[0] != pid || rep.NSpid[len(rep.NSpid)-1] != 1 {
		t.Errorf("pid %d, NSpid %v; want %d, and 1 inside", rep.Pid, rep.NSpid, pid)
	}

	// hostNS is this test binary's /proc/self/ns, read at setup: the
	// suite runs in a network namespace of its own, so "the host" here
	// is whatever the test itself is in, never a hard-coded inode.
	for _, typ := range []string{"pid", "net", "mnt", "uts", "ipc", "cgroup"} {
		link, shared := rep.ns(typ)
		if link == "" || link == hostNS[typ] || shared != "no" {
			t.Errorf("%s namespace %q (shared %q); want one of its own, not the test's %s", typ, link, shared, hostNS[typ])
		}
		if want, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, typ)); link != want {
			t.Errorf("%s namespace %q, but /proc/%d/ns/%s reads %q", typ, link, pid, typ, want)
		}
	}
	if link, shared := rep.ns("user"); link != hostNS["user"] || shared == "no" {
		t.Errorf("user namespace %q (shared %q); want the test's %s, shared", link, shared, hostNS["user"])
	}

	st := procStatus(t, pid)
	eff := rep.Capabilities["effective"]
	if !slices.Equal(eff.Names, dockerDefaultCaps) || eff.Mask != st["CapEff"] {
		t.Errorf("effective capabilities %s %v; want docker's default, and /proc says %s", eff.Mask, eff.Names, st["CapEff"])
	}
	if bnd := rep.Capabilities["bounding"]; bnd.Mask != st["CapBnd"] {
		t.Errorf("bounding set %s, /proc says %s", bnd.Mask, st["CapBnd"])
	}
	// Whether minirun filters syscalls is not this test's business:
	// the report must say what the kernel says.
	if got := strconv.Itoa(rep.Seccomp.Mode); got != st["Seccomp"] {
		t.Errorf("seccomp mode %s, /proc says %s", got, st["Seccomp"])
	}
	if f, ok := st["Seccomp_filters"]; ok && strconv.Itoa(rep.Seccomp.Filters) != f {
		t.Errorf("seccomp filters %d, /proc says %s", rep.Seccomp.Filters, f)
	}
	if nnp := map[bool]string{false: "0", true: "1"}[rep.Seccomp.NoNewPrivs]; nnp != st["NoNewPrivs"] {
		t.Errorf("no_new_privs %s, /proc says %s", nnp, st["NoNewPrivs"])
	}

	if lim := rep.Cgroup.Limits; lim.MemoryMax != 64<<20 || lim.PidsMax != 50 {
		t.Errorf("limits %+v; want memory 64 MiB and 50 pids", lim)
	}
	cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if got := strings.Join(rep.Cgroup.Lines, "\n") + "\n"; got != string(cg) {
		t.Errorf("cgroup lines:\n%s\n/proc says:\n%s", got, cg)
	}

	ip := e.ipOf("web").String()
	found := false
	for _, i := range rep.Network.Interfaces {
		if i.Name != "eth0" {
			continue
		}
		for _, a := range i.Addresses {
			found = found || strings.HasPrefix(a, ip+"/")
		}
		if i.Type != "veth" {
			t.Errorf("eth0 is a %s, want a veth", i.Type)
		}
	}
	if !found || rep.Network.Shared != "no" {
		t.Errorf("network %+v; want eth0 with %s (inspect's address), in a namespace of its own", rep.Network, ip)
	}

	// The table a person reads says the same.
	table := e.must("inspect", "--ns", "web").stdout
	for _, want := range []string{"NAMESPACE", "net:[", "no: its own", "CAPABILITIES", "14: CHOWN", "eth0", ip + "/"} {
		if !strings.Contains(table, want) {
			t.Errorf("inspect --ns lacks %q:\n%s", want, table)
		}
	}

	t.Run("network host", func(t *testing.T) {
		e := e.with(t)
		e.runD("--name", "hostnet", "--network", "host", e.ref, "sleep", "300")
		rep := e.nsReport("hostnet")
		link, shared := rep.ns("net")
		if link != hostNS["net"] || shared == "no" || rep.Network.Shared != shared {
			t.Errorf("net namespace %q (shared %q, network section %q); want the test's own %s, shared", link, shared, rep.Network.Shared, hostNS["net"])
		}
		if link, shared := rep.ns("mnt"); link == hostNS["mnt"] || shared != "no" {
			t.Errorf("mnt namespace %q (shared %q): --network host shares the network only", link, shared)
		}
		for _, i := range rep.Network.Interfaces {
			if strings.HasPrefix(i.Name, "mr-") || i.Name == "minirun0" {
				return // the suite namespace's own links, seen from inside
			}
		}
		t.Errorf("interfaces %+v; want the suite namespace's (web's veth or the bridge)", rep.Network.Interfaces)
	})

	t.Run("all capabilities", func(t *testing.T) {
		e := e.with(t)
		// --privileged asks for every capability the kernel knows; where
		// this machine's bounding set lacks some, capset(2) refuses
		// them, so ask for all that the test itself may hold instead.
		own := procStatus(t, os.Getpid())["CapBnd"]
		full := fmt.Sprintf("%016x", uint64(1)<<len(spec.CapabilityNames)-1)
		flags := []string{"--privileged"}
		if own != full {
			bnd, _ := strconv.ParseUint(own, 16, 64)
			flags = []string{"--cap-add", "ALL"}
			for n, name := range spec.CapabilityNames {
				if bnd&(1<<n) == 0 {
					flags = append(flags, "--cap-drop", name)
				}
			}
			t.Logf("bounding set %s lacks some of %s: %v instead of --privileged", own, full, flags)
		}
		e.runD(append(append([]string{"--name", "priv"}, flags...), e.ref, "sleep", "300")...)
		rep := e.nsReport("priv")
		eff := rep.Capabilities["effective"]
		if eff.Mask != own || len(eff.Names) < 38 {
			t.Errorf("effective %s (%d names); want the full set %s", eff.Mask, len(eff.Names), own)
		}
	})

	t.Run("stopped", func(t *testing.T) {
		e := e.with(t)
		e.must("stop", "-t", "1", "web")
		r := e.rt("inspect", "--ns", "web")
		if r.code != 1 || strings.TrimSpace(r.stderr) != "minirun: container web is not running: --ns needs a live process" {
			t.Errorf("%v\nwant exit 1 and one line: not running", r)
		}
	})
}
