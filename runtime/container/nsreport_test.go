package container

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// containerStatus is /proc/PID/status of a container's init under
// docker's default capabilities and a seccomp filter, captured on Linux
// 6.x (lines the report does not read cut short).
const containerStatus = `Name:	sleep
Umask:	0022
State:	S (sleeping)
Tgid:	25669
Pid:	25669
PPid:	25650
Uid:	0	0	0	0
NStgid:	25669	1
NSpid:	25669	1
NSpgid:	25669	1
NSsid:	25669	1
Threads:	1
SigQ:	0/96365
CapInh:	0000000000000000
CapPrm:	00000000a80425fb
CapEff:	00000000a80425fb
CapBnd:	00000000a80425fb
CapAmb:	0000000000000000
NoNewPrivs:	1
Seccomp:	2
Seccomp_filters:	1
Speculation_Store_Bypass:	thread force mitigated
Cpus_allowed_list:	0-1
`

// dockerDefault are the 14 capabilities of docker's default set, in bit
// order: the names of mask 0xa80425fb.
var dockerDefault = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
	"CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP",
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    procStatus
		wantErr string
	}{
		{
			name: "container",
			text: containerStatus,
			want: procStatus{NSpid: []int{25669, 1}, Caps: [5]uint64{0, 0xa80425fb, 0xa80425fb, 0xa80425fb, 0},
				Seccomp: 2, Filters: 1, NoNewPrivs: true, hasSeccomp: true},
		},
		{
			// Before 5.9 there is no Seccomp_filters; before 4.1 no NSpid.
			name: "old kernel",
			text: "CapInh:\t0000000000000000\nCapPrm:\t0000003fffffffff\nCapEff:\t0000003fffffffff\nCapBnd:\t0000003fffffffff\nCapAmb:\t0000000000000000\nSeccomp:\t0\n",
			want: procStatus{Caps: [5]uint64{0, 0x3fffffffff, 0x3fffffffff, 0x3fffffffff, 0}, Filters: -1, hasSeccomp: true},
		},
		{
			name:    "no ambient set",
			text:    "CapInh:\t0\nCapPrm:\t0\nCapEff:\t0\nCapBnd:\t0\n",
			wantErr: "no CapAmb line",
		},
		{
			name:    "not hex",
			text:    strings.Replace(containerStatus, "00000000a80425fb", "zz", 1),
			wantErr: "CapPrm",
		},
		{
			name:    "bad NSpid",
			text:    strings.Replace(containerStatus, "NSpid:\t25669\t1", "NSpid:\t25669\tx", 1),
			wantErr: "NSpid",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatus(tt.text)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseStatus: error %v, want one about %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseStatus:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestCapNames(t *testing.T) {
	all := make([]string, 0, 41)
	for _, n := range []string{"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
		"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
		"SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
		"SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
		"MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"} {
		all = append(all, "CAP_"+n)
	}
	tests := []struct {
		name string
		mask uint64
		want []string
	}{
		{"none", 0, []string{}},
		{"docker's default", 0x00000000a80425fb, dockerDefault},
		{"one", 1 << 21, []string{"CAP_SYS_ADMIN"}},
		{"all of Linux 5.9", 0x000001ffffffffff, all},
		// A newer kernel's capability is named by its bit.
		{"unknown bit", 1<<41 | 1, []string{"CAP_CHOWN", "CAP_41"}},
		{"top bit", 1 << 63, []string{"CAP_63"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := capNames(tt.mask); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("capNames(%#x) = %v, want %v", tt.mask, got, tt.want)
			}
		})
	}
}

func TestStatusViews(t *testing.T) {
	st, err := parseStatus(containerStatus)
	if err != nil {
		t.Fatal(err)
	}
	c := st.capabilities()
	if c.Effective.Mask != "00000000a80425fb" || !reflect.DeepEqual(c.Effective.Names, dockerDefault) {
		t.Errorf("effective = %+v, want docker's default", c.Effective)
	}
	if c.Ambient.Mask != "0000000000000000" || len(c.Ambient.Names) != 0 {
		t.Errorf("ambient = %+v, want empty", c.Ambient)
	}
	tests := []struct {
		mode int
		has  bool
		want string
	}{
		{0, true, "disabled"},
		{1, true, "strict"},
		{2, true, "filter"},
		{3, true, "mode 3"},
		{0, false, "not built in this kernel"},
	}
	for _, tt := range tests {
		s := procStatus{Seccomp: tt.mode, hasSeccomp: tt.has}.seccomp()
		if s.ModeName != tt.want || s.Mode != tt.mode {
			t.Errorf("seccomp mode %d (line present: %v) = %+v, want %s", tt.mode, tt.has, s, tt.want)
		}
	}
	if s := st.seccomp(); s.Filters != 1 || !s.NoNewPrivs {
		t.Errorf("seccomp of the container = %+v, want 1 filter and no_new_privs", s)
	}
}

func TestParseIDMap(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    []IDMap
		wantErr bool
	}{
		{"identity", "         0          0 4294967295\n", []IDMap{{0, 0, 4294967295}}, false},
		{"user namespace", "         0     100000      65536\n     65536       1000          1\n",
			[]IDMap{{0, 100000, 65536}, {65536, 1000, 1}}, false},
		{"unmapped", "", []IDMap{}, false},
		{"two fields", "0 0\n", nil, true},
		{"negative", "0 -1 1\n", nil, true},
		{"too big", "0 0 4294967296\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseIDMap(tt.text)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseIDMap: error %v, want error: %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseIDMap = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCompareNamespaces(t *testing.T) {
	host := map[string]string{}
	for i, typ := range namespaceTypes {
		host[typ] = typ + ":[40265318" + string(rune('0'+i)) + "]"
	}
	host["pid_for_children"], host["time_for_children"] = host["pid"], host["time"]
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	own := with(host, "cgroup", "cgroup:[4026532319]", "ipc", "ipc:[4026532248]", "mnt", "mnt:[4026532246]",
		"net", "net:[4026532250]", "pid", "pid:[4026532249]", "pid_for_children", "pid:[4026532249]", "uts", "uts:[4026532247]")
	tests := []struct {
		name            string
		ctr, host, self map[string]string
		want            map[string]string // type → Shared
	}{
		{
			name: "bridge", ctr: own, host: host, self: host,
			want: map[string]string{"cgroup": SharedNo, "ipc": SharedNo, "mnt": SharedNo, "net": SharedNo, "pid": SharedNo,
				"pid_for_children": SharedNo, "time": SharedHost, "time_for_children": SharedHost, "user": SharedHost, "uts": SharedNo},
		},
		{
			name: "network host", ctr: with(own, "net", host["net"]), host: host, self: host,
			want: map[string]string{"net": SharedHost, "mnt": SharedNo, "user": SharedHost},
		},
		{
			// minirun runs in a network namespace of its own (unshare
			// --net): --network host gives the container that one.
			name: "minirun in its own netns", ctr: with(own, "net", "net:[4026532177]"), host: host,
			self: with(host, "net", "net:[4026532177]"),
			want: map[string]string{"net": SharedMinirun, "user": SharedHost},
		},
		{
			// pid 1's links unreadable: only minirun's to compare with.
			name: "host unknown", ctr: own, host: nil, self: host,
			want: map[string]string{"net": SharedNo, "user": SharedMinirun, "time": SharedMinirun},
		},
		{
			name: "kernel without time namespaces", ctr: with(own, "time", "", "time_for_children", ""),
			host: with(host, "time", "", "time_for_children", ""), self: host,
			want: map[string]string{"time": "", "time_for_children": "", "user": SharedHost},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string]Namespace{}
			for _, n := range compareNamespaces(tt.ctr, tt.host, tt.self) {
				got[n.Type] = n
			}
			for typ, shared := range tt.want {
				n, ok := got[typ]
				if shared == "" {
					if ok {
						t.Errorf("%s: %+v, want no entry", typ, n)
					}
					continue
				}
				if n.Shared != shared {
					t.Errorf("%s: shared %q, want %q (%+v)", typ, n.Shared, shared, n)
				}
				if n.Container != tt.ctr[typ] || n.Host != tt.host[typ] || n.Minirun != tt.self[typ] {
					t.Errorf("%s: %+v, want the links as read", typ, n)
				}
			}
		})
	}
}

// hybridMountinfo is the cgroup part of /proc/self/mountinfo on a hybrid
// host (v1 controllers, an empty cgroup2 at unified), captured.
const hybridMountinfo = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`

const hybridCgroup = `9:name=systemd:/
8:pids:/minirun/c1
4:memory:/process_api/8a79/minirun/c1
2:cpuacct:/minirun/c1
1:cpu:/minirun/c1
0::/
`

func TestCgroupDirs(t *testing.T) {
	tests := []struct {
		name              string
		cgroup, mountinfo string
		want              map[string]string
	}{
		{
			name: "hybrid", cgroup: hybridCgroup, mountinfo: hybridMountinfo,
			want: map[string]string{
				"name=systemd": "/sys/fs/cgroup/systemd",
				"pids":         "/sys/fs/cgroup/pids/minirun/c1",
				"memory":       "/sys/fs/cgroup/memory/process_api/8a79/minirun/c1",
				"cpuacct":      "/sys/fs/cgroup/cpuacct/minirun/c1",
				"cpu":          "/sys/fs/cgroup/cpu/minirun/c1",
				"":             "/sys/fs/cgroup/unified",
			},
		},
		{
			name:      "v1 co-mounted cpu,cpuacct",
			cgroup:    "3:cpu,cpuacct:/minirun/c1\n",
			mountinfo: "30 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct\n",
			want:      map[string]string{"cpu,cpuacct": "/sys/fs/cgroup/cpu,cpuacct/minirun/c1"},
		},
		{
			name:      "v2",
			cgroup:    "0::/minirun/c1\n",
			mountinfo: "35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
			want:      map[string]string{"": "/sys/fs/cgroup/minirun/c1"},
		},
		{
			// A mount whose root is a sub-cgroup (what a nested
			// runtime sees): paths are below that root.
			name:      "v2 mounted from a sub-cgroup",
			cgroup:    "0::/user.slice/minirun/c1\n",
			mountinfo: "35 24 0:30 /user.slice /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
			want:      map[string]string{"": "/sys/fs/cgroup/minirun/c1"},
		},
		{
			name:      "outside the mount's root",
			cgroup:    "0::/system.slice/x\n",
			mountinfo: "35 24 0:30 /user.slice /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
			want:      map[string]string{},
		},
		{
			name:      "escaped mount point",
			cgroup:    "0::/c1\n",
			mountinfo: `35 24 0:30 / /mnt/my\040cgroups rw - cgroup2 cgroup2 rw` + "\n",
			want:      map[string]string{"": "/mnt/my cgroups/c1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines, err := parseProcCgroup(tt.cgroup)
			if err != nil {
				t.Fatal(err)
			}
			if got := cgroupDirs(lines, parseCgroupMounts(tt.mountinfo)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("cgroupDirs:\n got %v\nwant %v", got, tt.want)
			}
		})
	}
	if _, err := parseProcCgroup("4:memory\n"); err == nil {
		t.Error("parseProcCgroup accepted a line without a path")
	}
}

func TestLimits(t *testing.T) {
	hybrid := map[string]string{
		"":             "/sys/fs/cgroup/unified",
		"memory":       "/m",
		"cpu":          "/c",
		"pids":         "/p",
		"name=systemd": "/s",
	}
	var got []string
	for _, f := range limitFiles(hybrid) {
		got = append(got, hybrid[f.Hierarchy]+"/"+f.Name)
	}
	want := []string{"/sys/fs/cgroup/unified/cpu.max", "/sys/fs/cgroup/unified/memory.max", "/sys/fs/cgroup/unified/pids.max",
		"/c/cpu.cfs_period_us", "/c/cpu.cfs_quota_us", "/m/memory.limit_in_bytes", "/p/pids.max"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("limitFiles(hybrid) = %v, want %v", got, want)
	}

	tests := []struct {
		name    string
		files   map[string]string
		want    CgroupLimits
		wantErr bool
	}{
		{
			name:  "v2 limited",
			files: map[string]string{"/g/memory.max": "268435456\n", "/g/cpu.max": "50000 100000\n", "/g/pids.max": "100\n"},
			want:  CgroupLimits{MemoryMax: 256 << 20, CPUQuota: 50000, CPUPeriod: 100000, PidsMax: 100, Files: []string{"/g/cpu.max", "/g/memory.max", "/g/pids.max"}},
		},
		{
			name:  "v2 unlimited",
			files: map[string]string{"/g/memory.max": "max\n", "/g/cpu.max": "max 100000\n", "/g/pids.max": "max\n"},
			want:  CgroupLimits{CPUPeriod: 100000, Files: []string{"/g/cpu.max", "/g/memory.max", "/g/pids.max"}},
		},
		{
			name: "v1 limited",
			files: map[string]string{"/m/memory.limit_in_bytes": "67108864\n", "/c/cpu.cfs_quota_us": "150000\n",
				"/c/cpu.cfs_period_us": "100000\n", "/p/pids.max": "64\n"},
			want: CgroupLimits{MemoryMax: 64 << 20, CPUQuota: 150000, CPUPeriod: 100000, PidsMax: 64,
				Files: []string{"/c/cpu.cfs_period_us", "/c/cpu.cfs_quota_us", "/m/memory.limit_in_bytes", "/p/pids.max"}},
		},
		{
			// v1's "no limit": PAGE_COUNTER_MAX pages, and a quota of -1.
			name: "v1 unlimited",
			files: map[string]string{"/m/memory.limit_in_bytes": "9223372036854771712\n", "/c/cpu.cfs_quota_us": "-1\n",
				"/c/cpu.cfs_period_us": "100000\n", "/p/pids.max": "max\n"},
			want: CgroupLimits{CPUPeriod: 100000, Files: []string{"/c/cpu.cfs_period_us", "/c/cpu.cfs_quota_us", "/m/memory.limit_in_bytes", "/p/pids.max"}},
		},
		{name: "garbage", files: map[string]string{"/g/pids.max": "lots\n"}, wantErr: true},
		{name: "cpu.max one field", files: map[string]string{"/g/cpu.max": "50000\n"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseLimits(tt.files)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseLimits: error %v, want error: %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseLimits:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestWriteTable(t *testing.T) {
	st, err := parseStatus(containerStatus)
	if err != nil {
		t.Fatal(err)
	}
	host := map[string]string{"net": "net:[1]", "pid": "pid:[2]", "user": "user:[3]"}
	rep := &NSReport{
		ID: strings.Repeat("ab", 32), Name: "web", Pid: 25669, NSpid: st.NSpid,
		Namespaces:   compareNamespaces(map[string]string{"net": "net:[10]", "pid": "pid:[20]", "user": "user:[3]"}, host, host),
		UIDMap:       []IDMap{{0, 0, 4294967295}},
		Capabilities: st.capabilities(), Seccomp: st.seccomp(),
		Cgroup: CgroupView{Lines: []string{"0::/minirun/web"}, Limits: CgroupLimits{MemoryMax: 256 << 20, CPUQuota: 50000, CPUPeriod: 100000,
			Files: []string{"/sys/fs/cgroup/minirun/web/memory.max", "/sys/fs/cgroup/minirun/web/cpu.max"}}},
		Network: NetworkView{Namespace: "net:[10]", Shared: SharedNo, Interfaces: []Interface{
			{Index: 2, Name: "eth0", Type: "veth", State: "up", MAC: "02:42:0a:58:00:02", MTU: 1500, Addresses: []string{"10.88.0.2/16"}},
		}},
	}
	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"container web (abababababab)",
		"1 inside its pid namespace (NSpid: 25669 1)",
		"NAMESPACE  CONTAINER  HOST (PID 1)  SHARED?",
		"net        net:[10]   net:[1]       no: its own",
		"user       user:[3]   user:[3]      yes: the host's",
		"uid  0 -> 0, 4294967295",
		"0::/minirun/web",
		"memory 256 MiB",
		"cpu 50000/100000 us (0.50 CPUs)",
		"pids none",
		"effective    00000000a80425fb  14: CHOWN DAC_OVERRIDE FOWNER",
		"ambient      0000000000000000  (none)",
		"mode          2 (filter)",
		"no_new_privs  1: execve can never gain privileges",
		"eth0       veth  up     02:42:0a:58:00:02  1500  10.88.0.2/16",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	rep.Cgroup.Limits.Files = nil
	b.Reset()
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "limits:  none readable") {
		t.Errorf("table with no limit file read does not say so:\n%s", b.String())
	}
	if strings.Contains(out, "MINIRUN") {
		t.Errorf("table has a MINIRUN column though minirun's namespaces are the host's:\n%s", out)
	}

	// minirun in a network namespace of its own: its column appears, and
	// --network host is said to share minirun's network.
	self := map[string]string{"net": "net:[7]", "pid": "pid:[2]", "user": "user:[3]"}
	rep.Namespaces = compareNamespaces(map[string]string{"net": "net:[7]", "pid": "pid:[20]", "user": "user:[3]"}, host, self)
	rep.Network.Shared = SharedMinirun
	b.Reset()
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	// Columns widen with their contents: compare words, not spaces.
	words := strings.Join(strings.Fields(b.String()), " ")
	for _, want := range []string{"HOST (PID 1) MINIRUN SHARED?", "net net:[7] net:[1] net:[7] yes: minirun's", "minirun's own network namespace"} {
		if !strings.Contains(words, want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}
