package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// What the network tests (network_test.go) share: the suite's namespace,
// an "outside" one, and fetching from a container or the host.

// hello is what busybox httpd -h /srv/app serves as /hello.txt.
const hello = "hello from the busybox image"

// httpdArgs runs busybox httpd in the foreground on port 80, serving the
// image's /srv/app.
var httpdArgs = []string{"httpd", "-f", "-p", "80", "-h", "/srv/app"}

// fetchScript is a shell command for a container: GET url with busybox
// wget, tries times (a server that has just started may not listen yet),
// each bounded to 3 s; it prints the body and exits 0, or exits 1.
func fetchScript(url string, tries int) string {
	return fmt.Sprintf(`i=0; while [ $i -lt %d ]; do busybox timeout 3 busybox wget -q -O - %s && exit 0; i=$((i+1)); sleep 0.2; done; exit 1`, tries, url)
}

// netSettings is what the tests read of a container's network in inspect.
type netSettings struct {
	Mode       string        `json:"mode"`
	Network    string        `json:"network"`
	IPAddress  string        `json:"ipAddress"`
	Gateway    string        `json:"gateway"`
	MacAddress string        `json:"macAddress"`
	Published  []portMapping `json:"published"`
	Ports      []portMapping `json:"ports"`
}

type portMapping struct {
	HostIP        string `json:"hostIP"`
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
}

// netOf returns a container's network settings from inspect: its
// "network" object, or docker's "NetworkSettings".
func (e *ctrEnv) netOf(ref string) netSettings {
	e.t.Helper()
	r := e.must("inspect", ref)
	var out []struct {
		Network         *netSettings `json:"network"`
		NetworkSettings *netSettings `json:"NetworkSettings"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out) != 1 {
		e.t.Fatalf("inspect %s: %v\n%v", ref, err, r)
	}
	switch {
	case out[0].Network != nil:
		return *out[0].Network
	case out[0].NetworkSettings != nil:
		return *out[0].NetworkSettings
	}
	e.t.Fatalf("inspect %s has no network settings:\n%s", ref, r.stdout)
	return netSettings{}
}

// ipOf returns a running bridged container's address, from inspect.
func (e *ctrEnv) ipOf(ref string) netip.Addr {
	e.t.Helper()
	ns := e.netOf(ref)
	s := ns.IPAddress
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Addr()
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		e.t.Fatalf("inspect %s: IP address %q (%v); settings %+v", ref, s, err, ns)
	}
	return a
}

// fetchFrom runs fetchScript in a new container with the given run flags.
func (e *ctrEnv) fetchFrom(flags []string, url string, tries int) result {
	e.t.Helper()
	args := append(append([]string{"run", "--rm"}, flags...), e.ref, "sh", "-c", fetchScript(url, tries))
	return e.rt(args...)
}

// wantFetch fails unless r printed hello.
func wantFetch(t *testing.T, what string, r result) {
	t.Helper()
	if r.code != 0 || strings.TrimSpace(r.stdout) != hello {
		t.Errorf("%s: %v\nwant exit 0 and %q", what, r, hello)
	}
}

// wantNoFetch fails if r got anything through.
func wantNoFetch(t *testing.T, what string, r result) {
	t.Helper()
	if r.code == 0 || strings.Contains(r.stdout, hello) {
		t.Errorf("%s: %v\nwant the connection to fail", what, r)
	}
}

// --- the suite's namespace -------------------------------------------------

// minirunVeths lists the links mr-* in the suite's namespace.
func minirunVeths(t *testing.T) []string {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatalf("list links: %v", err)
	}
	var out []string
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, "mr-") {
			out = append(out, l.Attrs().Name)
		}
	}
	return out
}

func linkExists(name string) bool {
	_, err := netlink.LinkByName(name)
	return err == nil
}

// requireNetns: these tests create links and rules, so only ever in the
// suite's throwaway namespace.
func requireNetns(t *testing.T) {
	t.Helper()
	if !inSuiteNetns {
		t.Fatalf("not in the suite's network namespace (%s unset): refusing to create links here", netnsEnv)
	}
}

// newNetEnv is newCtrEnv for a network test.
func newNetEnv(t *testing.T) *ctrEnv {
	t.Helper()
	requireMinirun(t)
	stateFor(t) // root first: skips as non-root
	requireNetns(t)
	return newCtrEnv(t)
}

// checkNetClean polls until the store has no lease, the suite's namespace
// no veth mr-* and table ip minirun no container rule, and fails if that
// does not happen within 5 s.
func (e *ctrEnv) checkNetClean(what string) {
	e.t.Helper()
	var leases, veths, rules []string
	var err error
	if poll(5*time.Second, func() bool {
		leases, veths = leaseFiles(e.store), minirunVeths(e.t)
		rules, err = ctrRules()
		return len(leases)+len(veths)+len(rules) == 0 && err == nil
	}) {
		return
	}
	e.t.Errorf("%s: left behind: leases %v, veths %v, container rules %v (%v)", what, leases, veths, rules, err)
}

// --- an outside namespace ---------------------------------------------------

// outside is a network namespace beside the suite's, held by a sleep
// process, with a veth to the suite's namespace: 192.0.2.1/24 on the
// suite's end, 192.0.2.2/24 on its own.
type outside struct {
	fd     int // its /proc/PID/ns/net
	client *http.Client
}

const (
	suiteSideIP   = "192.0.2.1"
	outsideSideIP = "192.0.2.2"
)

var outsideSeq atomic.Int64

func newOutside(t *testing.T) *outside {
	t.Helper()
	requireNetns(t)
	sleep := exec.Command("sleep", "3600")
	sleep.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := startCmd(sleep); err != nil {
		t.Fatalf("start a process in a new network namespace: %v", err)
	}
	t.Cleanup(func() {
		sleep.Process.Kill()
		waitCmd(sleep)
	})
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/net", sleep.Process.Pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open the outside namespace: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	o := &outside{fd: fd}

	n := outsideSeq.Add(1)
	in, out := fmt.Sprintf("tnet%d", n), fmt.Sprintf("tnet%dx", n)
	la := netlink.NewLinkAttrs()
	la.Name = in
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: out, PeerNamespace: netlink.NsFd(fd)}); err != nil {
		t.Fatalf("create veth %s/%s: %v", in, out, err)
	}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName(in); err == nil {
			netlink.LinkDel(l)
		}
	})
	link, err := netlink.LinkByName(in)
	if err == nil {
		err = netlink.AddrAdd(link, &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP(suiteSideIP), Mask: net.CIDRMask(24, 32)}})
	}
	if err == nil {
		err = netlink.LinkSetUp(link)
	}
	if err != nil {
		t.Fatalf("set up %s with %s/24: %v", in, suiteSideIP, err)
	}
	h, err := netlink.NewHandleAt(netns.NsHandle(fd), unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("netlink in the outside namespace: %v", err)
	}
	defer h.Close()
	for _, step := range []func() error{
		func() error {
			l, err := h.LinkByName("lo")
			if err == nil {
				err = h.LinkSetUp(l)
			}
			return err
		},
		func() error {
			l, err := h.LinkByName(out)
			if err == nil {
				err = h.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP(outsideSideIP), Mask: net.CIDRMask(24, 32)}})
			}
			if err == nil {
				err = h.LinkSetUp(l)
			}
			return err
		},
	} {
		if err := step(); err != nil {
			t.Fatalf("set up the outside namespace: %v", err)
		}
	}
	o.client = &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			Proxy:             nil,
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				var c net.Conn
				err := o.do(func() error {
					var err error
					c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
					return err
				})
				return c, err
			},
		},
	}
	return o
}

// do runs f on a locked thread that has joined the outside namespace, and
// brings the thread back. Sockets made there stay there, whatever thread
// uses them later.
func (o *outside) do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		back, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open this thread's network namespace: %w", err)
			return
		}
		defer unix.Close(back)
		if err := unix.Setns(o.fd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns into the outside namespace: %w", err)
			return
		}
		err = f()
		// Back to the suite's namespace, or the thread must not run
		// anything else: left locked, it ends with this goroutine (the
		// main thread, which cannot end, is parked for good).
		if unix.Setns(back, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// serveRemoteAddr starts an HTTP server in the outside namespace on
// 192.0.2.2 that answers every request with the address it came from,
// and returns its host:port.
func (o *outside) serveRemoteAddr(t *testing.T) string {
	t.Helper()
	var l net.Listener
	if err := o.do(func() error {
		var err error
		l, err = net.Listen("tcp", outsideSideIP+":0")
		return err
	}); err != nil {
		t.Fatalf("listen in the outside namespace: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		fmt.Fprintln(w, host)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// suiteClient is an HTTP client in the suite's namespace, never proxied.
var suiteClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

// get GETs url with c, retrying for up to 10 s while it fails.
func get(c *http.Client, url string) (string, error) {
	var body string
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		body, err = get1(c, url)
		if err == nil || time.Now().After(deadline) {
			return body, err
		}
	}
}

func get1(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %s", resp.Status)
	}
	return string(b), err
}

func wantGet(t *testing.T, what string, c *http.Client, url string) {
	t.Helper()
	body, err := get(c, url)
	if err != nil || strings.TrimSpace(body) != hello {
		t.Errorf("%s: GET %s: %q, %v; want %q", what, url, body, err, hello)
	}
}
