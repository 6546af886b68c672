package test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Tests of container networking (run --network, -p, -P, --dns, --add-host,
// port, network create/ls/inspect/rm, gc). They run in the suite's own
// network namespace (see TestMain): the default network's bridge minirun0
// and table ip minirun live there. Where a test needs a world beyond the
// host, it makes an "outside" namespace joined to the suite's by a veth,
// 192.0.2.1/24 on the suite's side and 192.0.2.2/24 outside (TEST-NET-1).
// No traffic ever goes anywhere else: loopback, the containers' subnets
// (10.88.0.0/16, 10.89.0.0/16) and that link.

// --- a. the default network and a named one -------------------------------------

// Two containers on the default network reach each other both ways; a
// container on a network made with `network create` reaches its own
// network's containers and not the default network's, nor they it.
func TestNetworkBridge(t *testing.T) {
	e := newNetEnv(t)
	e.runD(append([]string{"--name", "a", e.ref}, httpdArgs...)...)
	e.runD(append([]string{"--name", "b", e.ref}, httpdArgs...)...)
	na, nb := e.netOf("a"), e.netOf("b")
	ipA, ipB := e.ipOf("a"), e.ipOf("b")
	def := netip.MustParsePrefix("10.88.0.0/16")
	for _, c := range []struct {
		name string
		ns   netSettings
		ip   netip.Addr
	}{{"a", na, ipA}, {"b", nb, ipB}} {
		if !def.Contains(c.ip) || c.ip == netip.MustParseAddr("10.88.0.1") {
			t.Errorf("container %s has address %v, want one in %v other than the gateway", c.name, c.ip, def)
		}
		if c.ns.Gateway != "10.88.0.1" {
			t.Errorf("container %s: gateway %q, want 10.88.0.1 (settings %+v)", c.name, c.ns.Gateway, c.ns)
		}
		if c.ns.MacAddress == "" {
			t.Errorf("container %s: no MAC address in inspect (settings %+v)", c.name, c.ns)
		}
	}
	if ipA == ipB {
		t.Fatalf("a and b have the same address %v", ipA)
	}
	if !linkExists("minirun0") {
		t.Errorf("no bridge minirun0 in the suite's namespace while containers run on the default network")
	}
	urlA, urlB := "http://"+ipA.String()+"/hello.txt", "http://"+ipB.String()+"/hello.txt"
	wantFetch(t, "a to b", e.rt("exec", "a", "sh", "-c", fetchScript(urlB, 50)))
	wantFetch(t, "b to a", e.rt("exec", "b", "sh", "-c", fetchScript(urlA, 50)))
	wantFetch(t, "a new container to a", e.fetchFrom(nil, urlA, 50))
	wantFetch(t, "the suite's namespace (the host) to b", e.fetchFromHost(urlB))

	// A second network.
	subnet := netip.MustParsePrefix("10.89.77.0/24")
	r := e.rt("network", "create", "--subnet", subnet.String(), "other")
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	t.Cleanup(func() {
		e.removeAll()
		if r := e.rt("network", "rm", "other"); r.code != 0 && !strings.Contains(r.stderr, "not found") {
			t.Errorf("cleanup: %v", r)
		}
	})
	if r := e.must("network", "ls"); !regexp.MustCompile(`(?m)^other\s+minirun\d+\s+` + regexp.QuoteMeta(subnet.String())).MatchString(r.stdout) {
		t.Errorf("network ls: %v\nwant a line: other, its bridge minirunN, %v", r, subnet)
	}
	var bridge string
	inspectOther := func() string {
		r := e.must("network", "inspect", "other")
		var nets []struct {
			Name   string `json:"name"`
			Bridge string `json:"bridge"`
			Subnet string `json:"subnet"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &nets); err != nil || len(nets) != 1 || nets[0].Name != "other" || nets[0].Subnet != subnet.String() {
			t.Errorf("network inspect other: %v (%v)", r, err)
			return ""
		}
		if !regexp.MustCompile(`^minirun[1-9]\d*$`).MatchString(nets[0].Bridge) {
			t.Errorf("network other: bridge %q, want minirunN (N > 0)", nets[0].Bridge)
		}
		return nets[0].Bridge
	}
	bridge = inspectOther()
	cID := e.runD(append([]string{"--name", "c", "--network", "other", e.ref}, httpdArgs...)...)
	ipC := e.ipOf("c")
	if bridge != "" && !linkExists(bridge) {
		t.Errorf("no bridge %s in the suite's namespace while c runs on network other", bridge)
	}
	if !subnet.Contains(ipC) {
		t.Errorf("c on network other has address %v, want one in %v", ipC, subnet)
	}
	if n := e.netOf("c"); n.Network != "other" || n.Gateway != "10.89.77.1" {
		t.Errorf("c: network %q, gateway %q; want other and 10.89.77.1 (%+v)", n.Network, n.Gateway, n)
	}
	r = e.must("network", "inspect", "other")
	if !strings.Contains(r.stdout, cID) || !strings.Contains(r.stdout, ipC.String()) {
		t.Errorf("network inspect other: %v\nwant c's lease (%s, %v)", r, cID[:12], ipC)
	}
	urlC := "http://" + ipC.String() + "/hello.txt"
	wantFetch(t, "a container on other to c", e.fetchFrom([]string{"--network", "other"}, urlC, 50))
	// Now that every server is known to answer, what must fail.
	wantNoFetch(t, "a container on other to a (default network)", e.fetchFrom([]string{"--network", "other"}, urlA, 1))
	wantNoFetch(t, "c to b", e.rt("exec", "c", "sh", "-c", fetchScript(urlB, 1)))
	wantNoFetch(t, "a to c", e.rt("exec", "a", "sh", "-c", fetchScript(urlC, 1)))

	if r := e.rt("network", "rm", "other"); r.code == 0 {
		t.Errorf("network rm of a network in use: %v\nwant a refusal", r)
	}
	e.must("rm", "-f", "c")
	e.must("network", "rm", "other")
	if bridge != "" && linkExists(bridge) {
		t.Errorf("network rm other left its bridge %s", bridge)
	}
	if r := e.must("network", "ls", "-q"); strings.Contains(r.stdout, "other") {
		t.Errorf("network ls -q after rm: %v", r)
	}
	if r := e.rt("run", "--rm", "--network", "other", e.ref, "true"); r.code != 125 {
		t.Errorf("run on a removed network: %v\nwant exit 125", r)
	}
	e.must("rm", "-f", "a", "b")
	e.checkNetClean("after rm -f of every container")
	e.checkNothingLeft()
}

// fetchFromHost GETs url from the suite's namespace.
func (e *ctrEnv) fetchFromHost(url string) result {
	body, err := get(suiteClient, url)
	r := result{args: []string{"GET", url}, stdout: body}
	if err != nil {
		r.code, r.err = 1, err
	}
	return r
}

// --- b. the way out --------------------------------------------------------------

// A container's connection to an address beyond the host leaves with the
// host's address (masquerade), and the answer finds its way back.
func TestNetworkEgress(t *testing.T) {
	e := newNetEnv(t)
	o := newOutside(t)
	addr := o.serveRemoteAddr(t)
	// The suite's namespace itself reaches it (the link works)...
	if body, err := get(suiteClient, "http://"+addr+"/"); err != nil || strings.TrimSpace(body) != suiteSideIP {
		t.Fatalf("GET http://%s/ from the suite's namespace: %q, %v; want %s", addr, body, err, suiteSideIP)
	}
	// ...and so does a container, seen from outside as the host.
	r := e.rt("run", "--rm", e.ref, "sh", "-c", fetchScript("http://"+addr+"/", 3))
	if r.code != 0 || strings.TrimSpace(r.stdout) != suiteSideIP {
		t.Errorf("%v\nwant the outside server to see the connection come from %s (masqueraded)", r, suiteSideIP)
	}
	// On a named network too.
	e.must("network", "create", "egress")
	t.Cleanup(func() { e.removeAll(); e.rt("network", "rm", "egress") })
	r = e.rt("run", "--rm", "--network", "egress", e.ref, "sh", "-c", fetchScript("http://"+addr+"/", 3))
	if r.code != 0 || strings.TrimSpace(r.stdout) != suiteSideIP {
		t.Errorf("%v\nwant the outside server to see %s from a container on a named network", r, suiteSideIP)
	}
	// Without a network there is no way out.
	r = e.rt("run", "--rm", "--network", "none", e.ref, "sh", "-c", fetchScript("http://"+addr+"/", 1))
	if r.code == 0 {
		t.Errorf("%v\nwant --network none to reach nothing", r)
	}
	e.must("network", "rm", "egress")
	e.checkNetClean("after the runs")
	e.checkNothingLeft()
}

// --- c. published ports ---------------------------------------------------------

func TestNetworkPublish(t *testing.T) {
	e := newNetEnv(t)
	o := newOutside(t)

	// A host port that is taken fails the run before any container exists.
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	busy := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	r := e.rt(append([]string{"run", "-d", "--name", "busy", "-p", busy + ":80", e.ref}, httpdArgs...)...)
	l.Close()
	// The error is the last line (warnings, such as one about the host's
	// resolv.conf, may come first).
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if last := lines[len(lines)-1]; r.code != 125 || !strings.Contains(last, busy) || !strings.Contains(last, "in use") {
		t.Errorf("run -p %s:80 with port %s taken: %v\nwant exit 125 and an error naming the port as in use", busy, busy, r)
	}
	if rows := e.ps(true); len(rows) != 0 {
		t.Errorf("ps -a after the refused run: %+v, want nothing", rows)
	}
	if v := minirunVeths(t); len(v) != 0 {
		t.Errorf("veths after the refused run: %v", v)
	}
	if f := leaseFiles(e.store); len(f) != 0 {
		t.Errorf("leases after the refused run: %v", f)
	}

	// -p 8080:80
	e.runD(append([]string{"--name", "web", "-p", "8080:80", e.ref}, httpdArgs...)...)
	wantGet(t, "-p 8080:80 from outside", o.client, "http://"+suiteSideIP+":8080/hello.txt")
	wantGet(t, "-p 8080:80 at 127.0.0.1 on the host", suiteClient, "http://127.0.0.1:8080/hello.txt")
	wantGet(t, "-p 8080:80 at the host's own 192.0.2.1", suiteClient, "http://"+suiteSideIP+":8080/hello.txt")
	wantFetch(t, "-p 8080:80 from another container, by the gateway (hairpin)", e.fetchFrom(nil, "http://10.88.0.1:8080/hello.txt", 10))
	if r := e.must("port", "web"); strings.TrimSpace(r.stdout) != "80/tcp -> 0.0.0.0:8080" {
		t.Errorf("port web: %v\nwant \"80/tcp -> 0.0.0.0:8080\"", r)
	}
	if r := e.must("ps"); !strings.Contains(r.stdout, "0.0.0.0:8080->80/tcp") {
		t.Errorf("ps: %v\nwant 0.0.0.0:8080->80/tcp in the PORTS column", r)
	}
	r = e.must("ps", "--format", "json")
	var rows []struct {
		Name  string `json:"name"`
		Ports string `json:"ports"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 || rows[0].Ports != "0.0.0.0:8080->80/tcp" {
		t.Errorf("ps --format json: %v (%v)\nwant web with ports 0.0.0.0:8080->80/tcp", r, err)
	}
	// The same host port again is taken now, by a container.
	if r := e.rt(append([]string{"run", "-d", "--name", "again", "-p", "8080:80", e.ref}, httpdArgs...)...); r.code != 125 || !strings.Contains(r.stderr, "8080") {
		t.Errorf("a second -p 8080:80: %v\nwant exit 125 naming the port", r)
	}

	// -p 80: a port the kernel picks, which port reports.
	e.runD(append([]string{"--name", "random", "-p", "80", e.ref}, httpdArgs...)...)
	r = e.must("port", "random")
	m := regexp.MustCompile(`^80/tcp -> 0\.0\.0\.0:(\d+)$`).FindStringSubmatch(strings.TrimSpace(r.stdout))
	if m == nil {
		t.Errorf("port random: %v\nwant 80/tcp -> 0.0.0.0:PORT", r)
	} else {
		if m[1] == "80" || m[1] == "8080" {
			t.Errorf("port random: host port %s, want one picked at random", m[1])
		}
		wantGet(t, "-p 80 at its random port on 127.0.0.1", suiteClient, "http://127.0.0.1:"+m[1]+"/hello.txt")
		wantGet(t, "-p 80 at its random port from outside", o.client, "http://"+suiteSideIP+":"+m[1]+"/hello.txt")
	}

	// -p 127.0.0.1:8081:80: only on that address.
	e.runD(append([]string{"--name", "local", "-p", "127.0.0.1:8081:80", e.ref}, httpdArgs...)...)
	wantGet(t, "-p 127.0.0.1:8081:80 at 127.0.0.1", suiteClient, "http://127.0.0.1:8081/hello.txt")
	if body, err := get1(o.client, "http://"+suiteSideIP+":8081/hello.txt"); err == nil {
		t.Errorf("-p 127.0.0.1:8081:80 answered from outside at %s:8081: %q", suiteSideIP, body)
	}
	if r := e.must("port", "local"); strings.TrimSpace(r.stdout) != "80/tcp -> 127.0.0.1:8081" {
		t.Errorf("port local: %v\nwant \"80/tcp -> 127.0.0.1:8081\"", r)
	}

	// -P: the image exposes 8080/tcp.
	e.runD("--name", "all", "-P", e.ref, "httpd", "-f", "-p", "8080", "-h", "/srv/app")
	r = e.must("port", "all")
	m = regexp.MustCompile(`^8080/tcp -> 0\.0\.0\.0:(\d+)$`).FindStringSubmatch(strings.TrimSpace(r.stdout))
	if m == nil {
		t.Errorf("port all: %v\nwant 8080/tcp -> 0.0.0.0:PORT (the image exposes 8080/tcp)", r)
	} else {
		wantGet(t, "-P at its random port", suiteClient, "http://127.0.0.1:"+m[1]+"/hello.txt")
	}

	// Gone with the container: the port answers no more and is free.
	e.must("rm", "-f", "web")
	if body, err := get1(suiteClient, "http://127.0.0.1:8080/hello.txt"); err == nil {
		t.Errorf("127.0.0.1:8080 still answers after rm -f web: %q", body)
	}
	if l, err := net.Listen("tcp", "0.0.0.0:8080"); err != nil {
		t.Errorf("port 8080 after rm -f web: %v", err)
	} else {
		l.Close()
	}
	e.must("rm", "-f", "random", "local", "all")
	e.checkNetClean("after rm -f of every container")
	e.checkNothingLeft()
}

// --- d. none, host, container:NAME ---------------------------------------------

// procNetDev returns the interface names in a /proc/net/dev.
func procNetDev(s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if name, _, ok := strings.Cut(line, ":"); ok && !strings.Contains(name, "|") {
			out = append(out, strings.TrimSpace(name))
		}
	}
	sort.Strings(out)
	return out
}

func TestNetworkModes(t *testing.T) {
	e := newNetEnv(t)
	t.Run("none", func(t *testing.T) {
		e := e.with(t)
		r := e.rt("run", "--rm", "--network", "none", e.ref, "cat", "/proc/net/dev")
		if got := procNetDev(r.stdout); r.code != 0 || !slices.Equal(got, []string{"lo"}) {
			t.Errorf("%v\nwant only lo (got %v)", r, got)
		}
		id := e.runD("--network", "none", e.ref, "sleep", "100")
		if ns := e.netOf(id); ns.IPAddress != "" || ns.Mode != "none" {
			t.Errorf("inspect of a --network none container: %+v, want mode none and no address", ns)
		}
		if r := e.rt("run", "--rm", "--network", "none", "-p", "8082:80", e.ref, "true"); r.code != 125 {
			t.Errorf("-p with --network none: %v\nwant exit 125", r)
		}
		e.must("rm", "-f", id)
	})
	t.Run("host", func(t *testing.T) {
		e := e.with(t)
		r := e.rt("run", "--rm", "--network", "host", e.ref, "sh", "-c", "readlink /proc/self/ns/net; cat /proc/net/dev")
		first, rest, _ := strings.Cut(r.stdout, "\n")
		if r.code != 0 || first != hostNS["net"] {
			t.Errorf("%v\nwant the suite's namespace %s", r, hostNS["net"])
		}
		mine, _ := os.ReadFile("/proc/self/net/dev")
		if got, want := procNetDev(rest), procNetDev(string(mine)); !slices.Equal(got, want) {
			t.Errorf("--network host sees links %v, the suite's namespace has %v", got, want)
		}
		if v := minirunVeths(t); len(v) != 0 {
			t.Errorf("veths after a --network host run: %v", v)
		}
	})
	t.Run("container", func(t *testing.T) {
		e := e.with(t)
		first := e.runD("--name", "first", e.ref, "sleep", "100")
		ip := e.ipOf("first")
		nsFirst, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", e.inspect(first).State.Pid))
		if err != nil {
			t.Fatal(err)
		}
		r := e.rt("run", "--rm", "--network", "container:first", e.ref, "sh", "-c", "readlink /proc/self/ns/net; cat /proc/net/fib_trie")
		line, fib, _ := strings.Cut(r.stdout, "\n")
		if r.code != 0 || line != nsFirst {
			t.Errorf("%v\nwant first's namespace %s", r, nsFirst)
		}
		if !regexp.MustCompile(`(?m)^\s*\|-- ` + regexp.QuoteMeta(ip.String()) + `\s*$`).MatchString(fib) {
			t.Errorf("/proc/net/fib_trie in container:first: %q\nwant first's address %v", fib, ip)
		}
		// And by a detached one, with a server seen at the first's address.
		e.runD(append([]string{"--name", "second", "--network", "container:first", e.ref}, httpdArgs...)...)
		wantFetch(t, "httpd of second at first's address", e.fetchFrom(nil, "http://"+ip.String()+"/hello.txt", 50))
		if r := e.rt("run", "--rm", "--network", "container:no-such", e.ref, "true"); r.code != 125 {
			t.Errorf("--network container:no-such: %v\nwant exit 125", r)
		}
		e.must("rm", "-f", "second", "first")
	})
	e.checkNetClean("after the runs")
	e.checkNothingLeft()
}

// --- e. many at once ----------------------------------------------------------------

// 50 containers started at once get 50 addresses; removing them all leaves
// no veth, lease or rule, and the network still works afterwards.
func TestNetworkParallel(t *testing.T) {
	e := newNetEnv(t)
	const n = 50
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = rtWith(t, rtOpts{timeout: 2 * time.Minute}, "--store", e.store, "run", "-d", e.ref, "sleep", "100")
		}()
	}
	wg.Wait()
	ips := map[netip.Addr]string{}
	var ids []string
	for _, r := range results {
		id := strings.TrimSpace(r.stdout)
		if r.code != 0 || !hexID.MatchString(id) {
			t.Errorf("parallel run -d: %v", r)
			continue
		}
		ids = append(ids, id)
		if st := e.inspect(id).State; st.Pid > 0 {
			recordPid(st.Pid)
		}
		ip := e.ipOf(id)
		if other, dup := ips[ip]; dup {
			t.Errorf("%s and %s both have %v", other[:12], id[:12], ip)
		}
		ips[ip] = id
		if !netip.MustParsePrefix("10.88.0.0/16").Contains(ip) {
			t.Errorf("%s has %v, not in 10.88.0.0/16", id[:12], ip)
		}
	}
	if len(ips) != n {
		t.Errorf("%d distinct addresses for %d containers", len(ips), n)
	}
	if v := minirunVeths(t); len(v) != len(ids) {
		t.Errorf("%d veths for %d containers", len(v), len(ids))
	}
	if f := leaseFiles(e.store); len(f) != len(ids) {
		t.Errorf("%d leases for %d containers", len(f), len(ids))
	}
	all := strings.Fields(e.must("ps", "-aq").stdout)
	r := rtWith(t, rtOpts{timeout: 2 * time.Minute}, append([]string{"--store", e.store, "rm", "-f"}, all...)...)
	if r.code != 0 || len(strings.Fields(r.stdout)) != len(all) {
		t.Errorf("rm -f of them all: %v", r)
	}
	e.checkNetClean("after rm -f of 50 containers")

	// The bridge and the table still work.
	e.runD(append([]string{"--name", "after", e.ref}, httpdArgs...)...)
	wantFetch(t, "a container to another after the 50 went", e.fetchFrom(nil, "http://"+e.ipOf("after").String()+"/hello.txt", 50))
	e.must("rm", "-f", "after")
	e.checkNetClean("at the end")
	e.checkNothingLeft()
}

// --- f. crashes --------------------------------------------------------------------

// `run -d` killed with SIGKILL at points all through its start, alone or
// with its monitor (a crash of everything minirun): gc (and rm -f of
// whatever ps -a lists) leaves nothing of the container, its network
// included.
func TestNetworkCrashDuringRun(t *testing.T) {
	e := newNetEnv(t)
	start := time.Now()
	id := e.runD(e.ref, "sleep", "100")
	full := time.Since(start)
	e.must("rm", "-f", id)
	e.checkNetClean("after a run -d and rm -f")

	delays := []time.Duration{0, time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}
	for k := 1; k <= 9; k++ {
		delays = append(delays, full*time.Duration(k)/8)
	}
	type crash struct {
		d   time.Duration
		all bool // the monitor too: every process that names the store
	}
	var crashes []crash
	for _, all := range []bool{false, true} {
		for _, d := range delays {
			crashes = append(crashes, crash{d, all})
		}
	}
	for _, c := range crashes {
		d := c.d
		name := fmt.Sprintf("run killed after %v", d.Round(100*time.Microsecond))
		if c.all {
			name = fmt.Sprintf("run and monitor killed after %v", d.Round(100*time.Microsecond))
		}
		t.Run(name, func(t *testing.T) {
			e := e.with(t)
			before := e.seen.list()
			out, _ := outFile(t, "killed-run")
			defer out.Close()
			cmd := exec.Command(runtimePath, "--root", rootFor(t), "--store", e.store, "run", "-d", e.ref, "sleep", "100")
			cmd.Stdout, cmd.Stderr = out, out
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := startCmd(cmd); err != nil {
				t.Fatal(err)
			}
			time.Sleep(d)
			cmd.Process.Signal(syscall.SIGKILL)
			if c.all {
				// The monitor runs in a session of its own; it may be
				// starting as this looks, so look twice.
				for range 2 {
					for _, p := range storeProcs(e.store) {
						unix.Kill(p.pid, unix.SIGKILL)
					}
				}
			}
			waitCmd(cmd)
			// What the killed run had started on its own (a monitor, a
			// container init) goes on, or ends: let it settle.
			poll(5*time.Second, func() bool {
				for _, p := range storeProcs(e.store) {
					if !strings.Contains(p.cmdline, "container-monitor") {
						return false
					}
				}
				return true
			})
			time.Sleep(100 * time.Millisecond)
			if r := e.rt("gc"); r.code != 0 {
				t.Errorf("gc: %v", r)
			}
			if ids := strings.Fields(e.must("ps", "-aq").stdout); len(ids) > 0 {
				if r := e.rt(append([]string{"rm", "-f"}, ids...)...); r.code != 0 {
					t.Errorf("rm -f: %v", r)
				}
			}
			if r := e.rt("gc"); r.code != 0 {
				t.Errorf("second gc: %v", r)
			}
			e.checkNetClean("after gc and rm -f")
			// A directory the killed run made before it wrote the record
			// is no container yet: gc leaves such a directory alone for a
			// minute, in case its run is still on its way. A minute later:
			ents, _ := os.ReadDir(filepath.Join(e.store, "containers"))
			var young []string
			for _, d := range ents {
				if d.IsDir() && hexID.MatchString(d.Name()) {
					young = append(young, d.Name())
					old := time.Now().Add(-2 * time.Minute)
					os.Chtimes(filepath.Join(e.store, "containers", d.Name()), old, old)
				}
			}
			if len(young) > 0 {
				t.Logf("directories without a container after gc and rm -f (gc's minute of grace; backdated): %v", young)
				if r := e.rt("gc"); r.code != 0 {
					t.Errorf("gc of the backdated directories: %v", r)
				}
			}
			made := slices.DeleteFunc(e.seen.list(), func(id string) bool { return slices.Contains(before, id) })
			e.checkNothingLeftOf(made)
			// Reported; now gone, if empty, so that one bad run does not
			// burden the machine (the cgroups are in its hierarchy).
			for _, id := range made {
				for _, d := range cgroupDirs(func(n string) bool { return n == id }) {
					os.Remove(d)
				}
			}
		})
	}
	// The network still works.
	e.runD(append([]string{"--name", "after", e.ref}, httpdArgs...)...)
	wantFetch(t, "a container to another after the crashes", e.fetchFrom(nil, "http://"+e.ipOf("after").String()+"/hello.txt", 50))
	e.must("rm", "-f", "after")
	e.checkNetClean("at the end")
	e.checkNothingLeft()
}

// checkNothingLeftOf is checkNothingLeft for the containers ids only
// (whose cgroups it looks for), so that one leak is reported once.
func (e *ctrEnv) checkNothingLeftOf(ids []string) {
	e.t.Helper()
	poll(5*time.Second, func() bool {
		ents, _ := os.ReadDir(filepath.Join(e.store, "containers"))
		for _, d := range ents {
			if d.IsDir() {
				return false
			}
		}
		return len(storeProcs(e.store)) == 0
	})
	checkNoContainers(e.t, e.store)
	if left := stateDirs(rootFor(e.t)); len(left) > 0 {
		e.t.Errorf("runtime state left under --root: %v", left)
	}
	for _, id := range ids {
		if dirs := cgroupDirs(func(name string) bool { return name == id }); len(dirs) > 0 {
			e.t.Errorf("cgroups left for %s: %v", id[:12], dirs)
		}
	}
	for _, p := range storeProcs(e.store) {
		e.t.Errorf("process %d still runs: %s", p.pid, p.cmdline)
	}
}

// --- g. resolv.conf and hosts --------------------------------------------------------

func TestNetworkResolvHosts(t *testing.T) {
	e := newNetEnv(t)
	id := e.runD("--name", "named", "--hostname", "web1",
		"--dns", "192.0.2.53", "--dns-search", "example.test", "--dns-option", "ndots:2",
		"--add-host", "foo:192.0.2.9", e.ref, "sleep", "100")
	ip := e.ipOf(id)
	r := e.must("exec", "named", "cat", "/etc/resolv.conf")
	for _, want := range []string{`(?m)^nameserver\s+192\.0\.2\.53\s*$`, `(?m)^search\s+example\.test\s*$`, `(?m)^options\s+.*\bndots:2\b`} {
		if !regexp.MustCompile(want).MatchString(r.stdout) {
			t.Errorf("/etc/resolv.conf: %q\nwant a line matching %s", r.stdout, want)
		}
	}
	if n := len(regexp.MustCompile(`(?m)^nameserver`).FindAllString(r.stdout, -1)); n != 1 {
		t.Errorf("/etc/resolv.conf: %q\nwant only --dns's name server", r.stdout)
	}
	r = e.must("exec", "named", "cat", "/etc/hosts")
	hostsHas := func(addr, name string) bool {
		for _, line := range strings.Split(r.stdout, "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && f[0] == addr && slices.Contains(f[1:], name) {
				return true
			}
		}
		return false
	}
	if !hostsHas("192.0.2.9", "foo") {
		t.Errorf("/etc/hosts: %q\nwant foo at 192.0.2.9 (--add-host)", r.stdout)
	}
	if !hostsHas(ip.String(), "web1") {
		t.Errorf("/etc/hosts: %q\nwant web1 at the container's address %v", r.stdout, ip)
	}
	if !hostsHas("127.0.0.1", "localhost") {
		t.Errorf("/etc/hosts: %q\nwant localhost at 127.0.0.1", r.stdout)
	}
	if r := e.must("exec", "named", "hostname"); strings.TrimSpace(r.stdout) != "web1" {
		t.Errorf("hostname: %v", r)
	}
	// The default host name (the short ID) is in /etc/hosts too.
	id2 := e.runD(e.ref, "sleep", "100")
	r = e.must("exec", id2, "cat", "/etc/hosts")
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(e.ipOf(id2).String()) + `\s.*\b` + id2[:12] + `\b`).MatchString(r.stdout) {
		t.Errorf("/etc/hosts of a container without --hostname: %q\nwant %s at %v", r.stdout, id2[:12], e.ipOf(id2))
	}
	// Bad values fail the run.
	for _, bad := range [][]string{{"--dns", "not-an-address"}, {"--add-host", "nocolon"}, {"--add-host", "foo:not-an-address"}} {
		if r := e.rt(append(append([]string{"run", "--rm"}, bad...), e.ref, "true")...); r.code != 125 {
			t.Errorf("run %v: %v\nwant exit 125", bad, r)
		}
	}
	e.must("rm", "-f", id, id2)
	e.checkNetClean("after rm -f")
	e.checkNothingLeft()
}
