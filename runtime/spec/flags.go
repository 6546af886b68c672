package spec

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"math/big"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The parsers in this file read the values of `minirun run`'s flags the way
// the docker CLI reads the same flags, so that a command line written for
// docker means the same here. They only parse: what a value means for the
// container (a memory limit below the kernel's minimum, say) is checked by
// FromImage, which knows the other flags too.

// Binary size units, as docker's RAMInBytes reads them: "k" is KiB.
const (
	kib = 1 << 10
	mib = 1 << 20
	gib = 1 << 30
	tib = 1 << 40
	pib = 1 << 50
)

// sizeUnits maps a unit's first letter to its multiple.
var sizeUnits = map[byte]float64{'b': 1, 'k': kib, 'm': mib, 'g': gib, 't': tib, 'p': pib}

// ParseBytes reads a size in bytes as docker's -m, --memory, --shm-size
// and --memory-swap read theirs (go-units RAMInBytes): a number, perhaps
// with a fraction, then perhaps one space, then perhaps a unit. Units are
// binary and case-insensitive: b, k, m, g, t and p, each of the last five
// optionally followed by "b" or "ib" ("512m", "1.5g", "2GiB", "10 MB",
// "4096"). A fraction of a byte is dropped. Negative sizes are errors; the
// "-1" of --memory-swap is [ParseMemorySwap]'s.
func ParseBytes(s string) (int64, error) {
	end := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if end < 0 {
		end = len(s)
	}
	num, unit := s[:end], s[end:]
	if strings.Trim(num, ".") == "" || strings.Count(num, ".") > 1 {
		return 0, fmt.Errorf("invalid size %q: want a number and an optional unit, like 512m or 1.5g", s)
	}
	unit = strings.ToLower(strings.TrimPrefix(unit, " "))
	mul := 1.0
	if unit != "" {
		m, ok := sizeUnits[unit[0]]
		rest := unit[1:]
		if !ok || (unit[0] == 'b' && rest != "") || (rest != "" && rest != "b" && rest != "ib") {
			return 0, fmt.Errorf("invalid size %q: unknown unit %q (want b, k, m, g, t or p)", s, unit)
		}
		mul = m
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: %w", s, err)
	}
	v *= mul
	// 2^63 is exact in a float64; int64 holds everything below it.
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q: more than %d bytes", s, int64(math.MaxInt64))
	}
	return int64(v), nil
}

// ParseMemorySwap reads --memory-swap: "-1" (no swap limit) or a size for
// [ParseBytes].
func ParseMemorySwap(s string) (int64, error) {
	if s == "-1" {
		return -1, nil
	}
	return ParseBytes(s)
}

// ParseCPUs reads --cpus, a number of CPUs that may be fractional ("1.5",
// "0.25"), as docker does: exact to the billionth of a CPU (more decimals
// are an error, not rounded), not negative. Zero means no limit.
func ParseCPUs(s string) (float64, error) {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, fmt.Errorf("invalid number of CPUs %q: not a number", s)
	}
	if r.Sign() < 0 {
		return 0, fmt.Errorf("invalid number of CPUs %q: negative", s)
	}
	nano := new(big.Rat).Mul(r, big.NewRat(1e9, 1))
	if !nano.IsInt() {
		return 0, fmt.Errorf("invalid number of CPUs %q: more precise than 0.000000001", s)
	}
	if !nano.Num().IsInt64() {
		return 0, fmt.Errorf("invalid number of CPUs %q: too many", s)
	}
	f, _ := r.Float64()
	return f, nil
}

// ulimitTypes maps the names --ulimit takes (docker's, from go-units) to
// the rlimits of getrlimit(2). RLIMIT_AS has no docker name.
var ulimitTypes = map[string]string{
	"core":       "RLIMIT_CORE",
	"cpu":        "RLIMIT_CPU",
	"data":       "RLIMIT_DATA",
	"fsize":      "RLIMIT_FSIZE",
	"locks":      "RLIMIT_LOCKS",
	"memlock":    "RLIMIT_MEMLOCK",
	"msgqueue":   "RLIMIT_MSGQUEUE",
	"nice":       "RLIMIT_NICE",
	"nofile":     "RLIMIT_NOFILE",
	"nproc":      "RLIMIT_NPROC",
	"rss":        "RLIMIT_RSS",
	"rtprio":     "RLIMIT_RTPRIO",
	"rttime":     "RLIMIT_RTTIME",
	"sigpending": "RLIMIT_SIGPENDING",
	"stack":      "RLIMIT_STACK",
}

// rlimInfinity is RLIM_INFINITY, "no limit" to setrlimit(2).
const rlimInfinity = math.MaxUint64

// ParseUlimit reads --ulimit NAME=SOFT[:HARD] ("nofile=1024:2048",
// "nproc=512"): NAME is one of docker's lower-case names (core, cpu, data,
// fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio,
// rttime, sigpending, stack), which becomes RLIMIT_ and the name in upper
// case. Without HARD the hard limit is SOFT. -1 is no limit
// (RLIM_INFINITY). SOFT above HARD is an error.
func ParseUlimit(s string) (specs.POSIXRlimit, error) {
	name, limits, ok := strings.Cut(s, "=")
	if !ok {
		return specs.POSIXRlimit{}, fmt.Errorf("invalid ulimit %q: want NAME=SOFT[:HARD]", s)
	}
	typ, ok := ulimitTypes[name]
	if !ok {
		return specs.POSIXRlimit{}, fmt.Errorf("invalid ulimit %q: unknown name %q", s, name)
	}
	softText, hardText, hasHard := strings.Cut(limits, ":")
	if strings.Contains(hardText, ":") {
		return specs.POSIXRlimit{}, fmt.Errorf("invalid ulimit %q: more than SOFT:HARD", s)
	}
	if !hasHard {
		hardText = softText
	}
	soft, err := parseLimit(softText)
	if err != nil {
		return specs.POSIXRlimit{}, fmt.Errorf("invalid ulimit %q: %w", s, err)
	}
	hard, err := parseLimit(hardText)
	if err != nil {
		return specs.POSIXRlimit{}, fmt.Errorf("invalid ulimit %q: %w", s, err)
	}
	if soft > hard {
		return specs.POSIXRlimit{}, fmt.Errorf("invalid ulimit %q: soft limit %s is above hard limit %s", s, softText, hardText)
	}
	return specs.POSIXRlimit{Type: typ, Soft: soft, Hard: hard}, nil
}

// parseLimit reads one rlimit value: a count, or -1 for none.
func parseLimit(s string) (uint64, error) {
	if s == "-1" {
		return rlimInfinity, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v == rlimInfinity {
		return 0, fmt.Errorf("limit %q is neither a number nor -1", s)
	}
	return v, nil
}

// VolumeSpec is one -v/--volume, parsed. The caller turns it into a
// [Volume] by finding the host directory: Source as it is for a bind mount,
// the named volume's directory, or a new directory for an anonymous one.
type VolumeSpec struct {
	// Source is the host path (absolute, cleaned) when Named is false, the
	// volume's name when Named is true, and empty for an anonymous volume
	// (Named true).
	Source string
	// Named is true for a named or anonymous volume, one whose directory
	// the caller manages, rather than a host path.
	Named bool
	// Target is where the container sees it: absolute, cleaned, not "/".
	Target string
	// ReadOnly is true for the ro mode.
	ReadOnly bool
}

// volumeName is the shape of a named volume (docker's local driver's
// characters). Docker also wants two characters at least; minirun takes
// one.
var volumeName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// ParseVolume reads -v/--volume in docker's three forms:
//
//   - HOST:CTR[:MODE], HOST an absolute host path: a bind mount;
//   - NAME:CTR[:MODE], NAME matching [a-zA-Z0-9][a-zA-Z0-9_.-]*: a named
//     volume;
//   - CTR alone: an anonymous volume (Named, with no Source).
//
// MODE is ro or rw (the default). CTR must be absolute; it and HOST are
// cleaned. Docker's other modes (z, Z, nocopy, propagation) are refused.
func ParseVolume(s string) (VolumeSpec, error) {
	parts := strings.Split(s, ":")
	var v VolumeSpec
	var source, mode string
	switch len(parts) {
	case 1:
		v.Target = parts[0]
	case 2:
		if parts[1] == "ro" || parts[1] == "rw" {
			return VolumeSpec{}, fmt.Errorf("invalid volume %q: an anonymous volume takes no mode", s)
		}
		source, v.Target = parts[0], parts[1]
	case 3:
		source, v.Target, mode = parts[0], parts[1], parts[2]
	default:
		return VolumeSpec{}, fmt.Errorf("invalid volume %q: want [SOURCE:]TARGET[:ro|rw]", s)
	}
	switch mode {
	case "", "rw":
	case "ro":
		v.ReadOnly = true
	default:
		return VolumeSpec{}, fmt.Errorf("invalid volume %q: mode %q is not ro or rw", s, mode)
	}
	target, err := mountTarget(v.Target)
	if err != nil {
		return VolumeSpec{}, fmt.Errorf("invalid volume %q: %w", s, err)
	}
	v.Target = target
	switch {
	case len(parts) == 1:
		v.Named = true
	case path.IsAbs(source):
		v.Source = path.Clean(source)
	case volumeName.MatchString(source):
		v.Source, v.Named = source, true
	case source == "":
		return VolumeSpec{}, fmt.Errorf("invalid volume %q: empty source", s)
	default:
		return VolumeSpec{}, fmt.Errorf("invalid volume %q: source %q is neither an absolute path nor a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)", s, source)
	}
	return v, nil
}

// mountTarget checks and cleans a mount point given on the command line,
// which must be absolute and cannot be the root, as in docker.
func mountTarget(target string) (string, error) {
	if target == "" {
		return "", fmt.Errorf("empty target")
	}
	if !path.IsAbs(target) {
		return "", fmt.Errorf("target %q is not absolute", target)
	}
	target = path.Clean(target)
	if target == "/" {
		return "", fmt.Errorf("target cannot be /")
	}
	return target, nil
}

// ParseTmpfs reads --tmpfs TARGET[:OPTIONS] ("/run:size=64m,mode=1777"):
// TARGET absolute (cleaned, not "/"), OPTIONS comma-separated tmpfs mount
// options, checked as [FromImage] checks them: mount flags (ro, rw, exec,
// noexec, suid, nosuid, dev, nodev, sync, async, dirsync, mand, nomand,
// atime, noatime, diratime, nodiratime, relatime, norelatime, strictatime,
// nostrictatime, defaults), a propagation (private, rprivate, shared,
// rshared, slave, rslave, unbindable, runbindable), or one of tmpfs's
// size, mode, uid, gid, nr_inodes, nr_blocks and mpol with a value.
func ParseTmpfs(s string) (Tmpfs, error) {
	target, options, _ := strings.Cut(s, ":")
	target, err := mountTarget(target)
	if err != nil {
		return Tmpfs{}, fmt.Errorf("invalid tmpfs %q: %w", s, err)
	}
	if _, err := tmpfsOptions(options); err != nil {
		return Tmpfs{}, fmt.Errorf("invalid tmpfs %q: %w", s, err)
	}
	return Tmpfs{Target: target, Options: options}, nil
}

// tmpfsFlags maps each flag option of a tmpfs to what it sets, so that two
// options setting the same thing (ro and rw, exec and noexec) can be told
// to collide. Propagation options all set the propagation.
var tmpfsFlags = map[string]string{
	"ro": "ro", "rw": "ro",
	"suid": "suid", "nosuid": "suid",
	"dev": "dev", "nodev": "dev",
	"exec": "exec", "noexec": "exec",
	"sync": "sync", "async": "sync", "dirsync": "dirsync",
	"mand": "mand", "nomand": "mand",
	"atime": "atime", "noatime": "atime",
	"diratime": "diratime", "nodiratime": "diratime",
	"relatime": "relatime", "norelatime": "relatime",
	"strictatime": "strictatime", "nostrictatime": "strictatime",
	"private": "propagation", "rprivate": "propagation",
	"shared": "propagation", "rshared": "propagation",
	"slave": "propagation", "rslave": "propagation",
	"unbindable": "propagation", "runbindable": "propagation",
}

// tmpfsData are the options with a value that tmpfs(5) takes and docker
// passes on.
var tmpfsData = []string{"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"}

// tmpfsDefaults are the options docker gives every --tmpfs before the
// user's: noexec, nosuid and nodev, and private propagation.
var tmpfsDefaults = []string{"noexec", "nosuid", "nodev", "rprivate"}

// tmpfsOptions returns the mount options of a --tmpfs with the given
// comma-separated options, as docker's MergeTmpfsOptions makes them:
// docker's defaults, then the user's, and of options that set the same
// thing only the last one, in its place.
func tmpfsOptions(user string) ([]string, error) {
	opts := tmpfsDefaults
	if user != "" {
		opts = append(opts[:len(opts):len(opts)], strings.Split(user, ",")...)
	}
	seen := make(map[string]bool)
	var merged []string
	for i := len(opts) - 1; i >= 0; i-- {
		opt := opts[i]
		if opt == "defaults" {
			continue
		}
		key, ok := tmpfsFlags[opt]
		if !ok {
			name, value, hasValue := strings.Cut(opt, "=")
			if !hasValue || value == "" || !slices.Contains(tmpfsData, name) {
				return nil, fmt.Errorf("option %q is not a tmpfs option", opt)
			}
			key = name + "="
		}
		if !seen[key] {
			seen[key] = true
			merged = append(merged, opt)
		}
	}
	slices.Reverse(merged)
	return merged, nil
}

// ParseEnvFile reads an --env-file as docker does: one KEY=VALUE a line,
// the value taken as it is (quotes and spaces included); leading
// whitespace, blank lines and lines starting with # skipped; a UTF-8 byte
// order mark at the start ignored. A line with a KEY alone asks for the
// caller's value of KEY: it comes back as "KEY", which [FromImage]'s
// [ImageRun].Env resolves through HostEnv. (Docker drops a bare KEY the
// caller does not have; FromImage instead removes KEY from the image's
// environment, as for -e KEY.) A KEY with a space or tab in it, an empty
// KEY and bytes that are not UTF-8 are errors naming the line.
func ParseEnvFile(r io.Reader) ([]string, error) {
	var env []string
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		b := sc.Bytes()
		if n == 1 {
			b = bytes.TrimPrefix(b, []byte("\uFEFF"))
		}
		if !utf8.Valid(b) {
			return nil, fmt.Errorf("env file line %d: not UTF-8", n)
		}
		line := strings.TrimLeftFunc(string(b), unicode.IsSpace)
		if line == "" || line[0] == '#' {
			continue
		}
		key, value, hasValue := strings.Cut(line, "=")
		if key == "" {
			return nil, fmt.Errorf("env file line %d: no variable name in %q", n, line)
		}
		if strings.ContainsAny(key, " \t") {
			return nil, fmt.Errorf("env file line %d: variable name %q contains whitespace", n, key)
		}
		if hasValue {
			env = append(env, key+"="+value)
		} else {
			env = append(env, key)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read env file: %w", err)
	}
	return env, nil
}

// ParseSysctl reads --sysctl KEY=VALUE ("net.ipv4.ip_forward=1"). KEY must
// be a dotted name of a sysctl the kernel keeps per namespace (see
// namespaces(7)): kernel.msgmax, kernel.msgmnb, kernel.msgmni, kernel.sem,
// kernel.shmall, kernel.shmmax, kernel.shmmni, kernel.shm_rmid_forced and
// fs.mqueue.* (ipc), kernel.hostname and kernel.domainname (uts), net.*
// (network); any other would change the host. [Validate] has the same rule.
func ParseSysctl(s string) (key, value string, err error) {
	key, value, ok := strings.Cut(s, "=")
	if !ok {
		return "", "", fmt.Errorf("invalid sysctl %q: want KEY=VALUE", s)
	}
	if err := checkSysctl(key); err != nil {
		return "", "", fmt.Errorf("invalid sysctl %q: %w", s, err)
	}
	return key, value, nil
}

// checkSysctl checks a sysctl key: dotted, and namespaced.
func checkSysctl(key string) error {
	if key == "" || strings.Contains(key, "/") || strings.Contains(key, "..") {
		return fmt.Errorf("key %q is not a dotted sysctl name", key)
	}
	if _, ok := sysctlNamespace(key); !ok {
		return fmt.Errorf("%q is not namespaced: it would change the host", key)
	}
	return nil
}

// ParseLabel reads -l/--label KEY[=VALUE], as docker does: leading spaces
// and tabs of KEY are dropped; an empty KEY, or one with a space or tab
// inside, is an error. Without "=" the value is empty.
func ParseLabel(s string) (key, value string, err error) {
	key, value, _ = strings.Cut(s, "=")
	key = strings.TrimLeft(key, " \t")
	if key == "" {
		return "", "", fmt.Errorf("invalid label %q: empty name", s)
	}
	if strings.ContainsAny(key, " \t") {
		return "", "", fmt.Errorf("invalid label %q: name %q contains whitespace", s, key)
	}
	return key, value, nil
}

// SetSecurityOpt applies one --security-opt, read as docker reads it:
//
//   - no-new-privileges, or no-new-privileges=BOOL (also with ":"), sets
//     NoNewPrivileges;
//   - seccomp=unconfined runs without a seccomp filter (SeccompUnconfined);
//   - seccomp=FILE (also with ":") reads a profile from FILE with
//     readFile (os.ReadFile in real use) and [ParseSeccompProfile] into
//     Seccomp.
//
// A later option wins over an earlier one of the same kind. Docker's
// other options (apparmor, label, systempaths) are errors: minirun has
// nothing to apply them to.
func (r *ImageRun) SetSecurityOpt(opt string, readFile func(string) ([]byte, error)) error {
	key, value, hasValue := strings.Cut(opt, "=")
	if !hasValue {
		key, value, hasValue = strings.Cut(opt, ":")
	}
	switch key {
	case "no-new-privileges":
		on := true
		if hasValue {
			var err error
			if on, err = strconv.ParseBool(value); err != nil {
				return fmt.Errorf("invalid security option %q: want no-new-privileges=true or false", opt)
			}
		}
		r.NoNewPrivileges = on
		return nil
	case "seccomp":
		switch value {
		case "":
			return fmt.Errorf("invalid security option %q: want seccomp=unconfined or seccomp=FILE", opt)
		case "unconfined":
			r.Seccomp, r.SeccompUnconfined = nil, true
			return nil
		}
		data, err := readFile(value)
		if err != nil {
			return fmt.Errorf("read seccomp profile: %w", err)
		}
		p, err := ParseSeccompProfile(data)
		if err != nil {
			return fmt.Errorf("seccomp profile %s: %w", value, err)
		}
		r.Seccomp, r.SeccompUnconfined = p, false
		return nil
	}
	return fmt.Errorf("invalid security option %q: want no-new-privileges, seccomp=unconfined or seccomp=FILE", opt)
}
