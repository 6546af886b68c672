package spec

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Errors [FromImage] returns for what callers may want to tell apart.
var (
	// ErrNoCommand means that neither the image nor the run gave a command:
	// no Entrypoint, no Cmd and no arguments. The text is docker's.
	ErrNoCommand = errors.New("no command specified")
	// ErrUnknownUser means that a user name is not in the image's /etc/passwd.
	ErrUnknownUser = errors.New("unknown user")
	// ErrUnknownGroup means that a group name is not in the image's /etc/group.
	ErrUnknownGroup = errors.New("unknown group")
)

// defaultPathEnv is the PATH a container gets when its image sets none:
// docker's, which is also the one in [Default].
const defaultPathEnv = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// The annotations image-spec conversion.md derives from an image config.
// (Its "author" is singular, unlike the manifest annotation
// org.opencontainers.image.authors; conversion.md is followed here.)
const (
	annotationOS           = "org.opencontainers.image.os"
	annotationArchitecture = "org.opencontainers.image.architecture"
	annotationVariant      = "org.opencontainers.image.variant"
	annotationOSVersion    = "org.opencontainers.image.os.version"
	annotationOSFeatures   = "org.opencontainers.image.os.features"
	annotationAuthor       = "org.opencontainers.image.author"
	annotationCreated      = "org.opencontainers.image.created"
	annotationStopSignal   = "org.opencontainers.image.stopSignal"
	annotationExposedPorts = "org.opencontainers.image.exposedPorts"
)

// The files a user and its groups are looked up in, relative to the root of
// the image's filesystem.
const (
	passwdFile = "etc/passwd"
	groupFile  = "etc/group"
)

// ImageRun is what a `minirun run IMAGE [CMD...]` asks of an image: the
// image's config and filesystem, and the options given on the command line,
// which take precedence over the image's.
type ImageRun struct {
	// Image is the image's config: Config (Entrypoint, Cmd, Env, ...) and
	// the platform and history fields that become annotations.
	Image ocispec.Image
	// Args is the command line after the image name. When not empty it
	// replaces the image's Cmd.
	Args []string
	// Entrypoint, when EntrypointSet, replaces the image's Entrypoint and
	// drops the image's Cmd, as `docker run --entrypoint` does; an empty
	// Entrypoint (or docker's [""]) means none, so that Args alone is the
	// command.
	Entrypoint    []string
	EntrypointSet bool
	// Env holds KEY=VALUE entries (from -e) that override the image's Env
	// by key. A lone KEY takes its value from HostEnv; when HostEnv does not
	// have it, KEY is removed from the container's environment, image's
	// value included, as docker does.
	Env []string
	// HostEnv looks up the caller's environment for key-only Env entries:
	// os.LookupEnv in real use. Nil means an empty environment.
	HostEnv func(string) (string, bool)
	// WorkingDir, when not empty, replaces the image's WorkingDir. It must
	// be absolute.
	WorkingDir string
	// User, when not empty, replaces the image's User: user[:group], where
	// each of user and group is a name or a number.
	User string
	// Hostname, when not empty, becomes the container's hostname and its
	// HOSTNAME variable.
	Hostname string
	// RootFS is the image's merged filesystem, in which /etc/passwd and
	// /etc/group are read (as etc/passwd and etc/group); either may be
	// missing, and RootFS may be nil. The files come from the image, so
	// RootFS must not follow symbolic links out of it: os.DirFS would, the
	// FS of an [os.Root] does not.
	RootFS fs.FS

	// The fields below are `docker run`'s flags, each named after the one
	// it comes from. The zero value of each leaves base as it is; with
	// [DockerDefault] as base, that is docker's default. Values are
	// checked, and an error names the flag: "--memory: 3 bytes is below
	// the 6 MiB minimum".

	// Terminal (-t, --tty) gives the process a terminal:
	// process.terminal, and TERM=xterm unless the environment has TERM.
	Terminal bool
	// ReadOnly (--read-only) makes the root filesystem read-only, and
	// with it the EtcFiles and every mount of base but /proc, /dev,
	// /dev/pts, /dev/shm and /dev/mqueue. Volumes and Tmpfs keep their
	// own modes.
	ReadOnly bool
	// Volumes (-v, --volume) are bind mounts of host paths, recursive and
	// private, read-only if asked. The caller resolves named and
	// anonymous volumes ([VolumeSpec]) to host directories first.
	Volumes []Volume
	// Tmpfs (--tmpfs) are tmpfs mounts, noexec,nosuid,nodev unless their
	// options say otherwise.
	Tmpfs []Tmpfs
	// Memory (-m, --memory) is the memory limit in bytes, 6 MiB at least;
	// 0 is none.
	Memory int64
	// MemorySwap (--memory-swap) limits memory and swap together, in
	// bytes: at least Memory, and only with it. -1 is no swap limit; 0
	// means twice Memory, docker's default of as much swap as memory.
	// runtime-spec's linux.resources.memory.swap also counts memory plus
	// swap, so the value goes there as it is.
	MemorySwap int64
	// CPUs (--cpus) is how many CPUs' worth of time the container may
	// use, 0.01 at least: a CFS quota of CPUs×100000µs in each 100000µs
	// period. 0 is no limit.
	CPUs float64
	// CPUShares (-c, --cpu-shares) is the relative CPU weight, 1024 being
	// the default weight; 0 leaves it unset.
	CPUShares uint64
	// PidsLimit (--pids-limit) caps the number of tasks; 0 leaves it
	// unset, -1 (or any negative number, as in docker) is no limit.
	PidsLimit int64
	// CapAdd and CapDrop (--cap-add, --cap-drop) change the capabilities:
	// names in any case, with or without CAP_, or ALL. See [FromImage]
	// for docker's rules.
	CapAdd, CapDrop []string
	// Privileged (--privileged) gives every capability, masks nothing,
	// makes no path under /proc read-only, mounts /sys and the cgroup
	// filesystem writable, drops any seccomp filter and allows every
	// device in the devices cgroup. The host's
	// device nodes are the caller's to add to linux.devices.
	Privileged bool
	// HostCapabilities are the capabilities the caller may hand out: its
	// own bounding set. --privileged and --cap-add ALL give these rather
	// than every capability this package knows, as podman does: capset(2)
	// refuses a permitted set wider than the caller's, so a host (or an
	// outer container) whose bounding set lacks one would otherwise fail
	// every privileged run. Empty: all of [CapabilityNames].
	HostCapabilities []string
	// NoNewPrivileges (--security-opt no-new-privileges) sets
	// no_new_privs: setuid binaries and file capabilities no longer raise
	// privileges.
	NoNewPrivileges bool
	// Seccomp (--security-opt seccomp=FILE) replaces base's linux.seccomp
	// with a profile read from a file, resolved for the process's
	// bounding set ([SeccompProfile.Spec]). SeccompUnconfined
	// (--security-opt seccomp=unconfined) removes base's. Privileged
	// removes it whatever these say, as docker does. With neither, base's
	// profile stays; when it is the [DefaultSeccomp] of base's bounding
	// set, as in [DockerDefault], and CapAdd or CapDrop change that set,
	// it becomes the DefaultSeccomp of the new one. Both set is an error.
	// [ImageRun.SetSecurityOpt] sets these three from --security-opt.
	Seccomp           *SeccompProfile
	SeccompUnconfined bool
	// Ulimits (--ulimit, see [ParseUlimit]) replace base's rlimits of the
	// same type and add the others.
	Ulimits []specs.POSIXRlimit
	// Sysctls (--sysctl, see [ParseSysctl]) are laid over base's; each
	// must be namespaced, in a namespace the container has.
	Sysctls map[string]string
	// Network (--network) is "none" or "bridge", a network namespace of
	// the container's own with a loopback interface only (DockerDefault's;
	// for a bridge the front end adds the rest between create and start),
	// "host", no network namespace: the host's network, or "container",
	// the namespace at the path NetNS (another container's,
	// /proc/PID/ns/net). Anything else is an error wrapping
	// [ErrUnsupportedNetwork]. "" leaves base's namespaces as they are.
	Network string
	NetNS   string
	// Labels (-l, --label) become annotations, over the image's labels.
	Labels map[string]string
	// StopSignal (--stop-signal) becomes the annotation
	// org.opencontainers.image.stopSignal, over the image's: a signal
	// name, with or without SIG, or a number.
	StopSignal string
	// ShmSize (--shm-size) is the size of the /dev/shm tmpfs in bytes;
	// 0 leaves base's, 64 MiB in DockerDefault.
	ShmSize int64
	// Init (--init) runs the command under a small init that reaps
	// zombies and passes signals on: InitPath, an absolute host path, is
	// bind-mounted read-only at [InitTarget], and process.args become
	// InitTarget, "--", then the command.
	Init     bool
	InitPath string
	// EtcFiles maps /etc/hostname, /etc/hosts and /etc/resolv.conf (no
	// other keys) to host files that are bind-mounted over the image's.
	// As in docker they are writable unless ReadOnly, and a volume or
	// tmpfs at the same place wins.
	EtcFiles map[string]string
}

// FromImage fills base, normally a fresh [DockerDefault], with what the
// image and the run ask for, and returns it. A nil base stands for
// [Default]().
//
// It follows image-spec conversion.md, and docker's rules for how the
// options of a run override the image:
//
//   - process.args is the Entrypoint followed by the Cmd. Args replace the
//     Cmd; a set Entrypoint replaces the image's and drops its Cmd. With no
//     command left, the error is [ErrNoCommand].
//   - process.env is the image's Env with the run's Env laid over it by key,
//     in the image's order with new keys after. Then, each only if absent:
//     PATH (docker's default), HOSTNAME (when Hostname is set), TERM=xterm
//     (when r.Terminal or base.process.terminal is true), and HOME from
//     the user's /etc/passwd entry, "/" without one. The variables base
//     had are replaced, not merged: an implementation's default may add a
//     variable but not change one the image sets.
//   - process.cwd is the WorkingDir, cleaned; "/" when there is none. A
//     relative one is an error.
//   - process.user comes from User, user[:group] with names looked up in
//     the image's /etc/passwd and /etc/group and numbers used as they are
//     (a uid without a passwd entry gets gid 0). No User is root. Without a
//     group, the gid is the passwd entry's and additionalGids lists every
//     other group whose /etc/group entry names the user as a member,
//     sorted. A name not found is an error wrapping [ErrUnknownUser] or
//     [ErrUnknownGroup]. base's umask is kept.
//   - annotations are base's, then those conversion.md derives from the
//     image (os, architecture, variant, os.version, os.features, author,
//     created, stopSignal, exposedPorts), then the image's Labels, which
//     win over both.
//   - hostname is set when Hostname is, which needs a uts namespace in
//     base.linux.namespaces.
//
// Config.Volumes is not converted: conversion.md leaves its mounts to the
// implementation, and without one a write to such a path lands in the
// container's own root filesystem, like any other write. A caller that
// wants volumes passes them as r.Volumes.
//
// Then come the docker flags of r (see [ImageRun]), as docker's daemon
// applies them (moby's daemon/oci_linux.go), each only when set:
//
//   - process.terminal, root.readonly and process.noNewPrivileges are
//     turned on by Terminal, ReadOnly and NoNewPrivileges.
//   - process.capabilities: Privileged gives every capability; otherwise
//     CapAdd and CapDrop change base's bounding set by docker's rules:
//     names are case-insensitive, with or without CAP_; ALL among the
//     added makes the other added names moot, ALL among the dropped the
//     other dropped ones; a name still both added and dropped is added;
//     then ALL added is every capability but the dropped ones, ALL
//     dropped is the added ones alone, and otherwise the dropped ones
//     leave base's set and the added ones join it. The result is the
//     bounding, effective and permitted sets; inheritable and ambient are
//     empty. An unknown name is an error ("--cap-add FOO: unknown
//     capability"), even one that ALL makes moot.
//   - process.rlimits: Ulimits replace base's of the same type.
//   - process.args: Init puts InitTarget and "--" in front; it needs a pid
//     namespace.
//   - mounts: base's, then Volumes, Tmpfs, EtcFiles and the init binary,
//     these sorted so that a mount comes after the one it lies in. A base
//     mount at or under one of these is dropped. ShmSize resizes
//     /dev/shm; ReadOnly adds ro to base's mounts but /proc, /dev,
//     /dev/pts, /dev/shm and /dev/mqueue; Privileged takes ro off /sys
//     and the cgroup mounts.
//   - linux.namespaces: Network "host" removes the network namespace (and
//     base's net.* sysctls with it); "none" makes sure there is a new one.
//   - linux.sysctl: Sysctls over base's.
//   - linux.resources: Memory and MemorySwap become memory.limit and
//     memory.swap (runtime-spec's swap, like --memory-swap, counts memory
//     plus swap), CPUs cpu.quota and cpu.period, CPUShares cpu.shares,
//     PidsLimit pids.limit; Privileged allows every device.
//   - linux.maskedPaths, linux.readonlyPaths and linux.seccomp are emptied
//     by Privileged.
//   - linux.seccomp: Seccomp replaces it, SeccompUnconfined removes it;
//     base's default profile follows CapAdd and CapDrop.
//   - annotations: Labels over the image's labels, and StopSignal as
//     org.opencontainers.image.stopSignal.
//
// FromImage reads the image's filesystem (r.RootFS) but changes nothing
// outside base, and copies what it takes from r.Image. On error, base is
// left as it was.
func FromImage(base *specs.Spec, r ImageRun) (*specs.Spec, error) {
	if base == nil {
		base = Default()
	}
	cfg := r.Image.Config

	args, err := imageArgs(cfg, r)
	if err != nil {
		return nil, err
	}

	cwd := cfg.WorkingDir
	if r.WorkingDir != "" {
		cwd = r.WorkingDir
	}
	if cwd == "" {
		cwd = "/"
	}
	if !path.IsAbs(cwd) {
		return nil, fmt.Errorf("working directory %q is not absolute", cwd)
	}
	cwd = path.Clean(cwd)

	if r.Hostname != "" && !hasNamespace(base, specs.UTSNamespace) {
		// Validate would refuse it later; say so while the cause is known.
		return nil, invalidf("hostname", "%q needs its own uts namespace in linux.namespaces", r.Hostname)
	}

	userSpec := cfg.User
	if r.User != "" {
		userSpec = r.User
	}
	u, err := resolveUser(r.RootFS, userSpec)
	if err != nil {
		return nil, fmt.Errorf("resolve user %q: %w", userSpec, err)
	}

	env, err := mergeEnv(cfg.Env, r.Env, r.HostEnv)
	if err != nil {
		return nil, err
	}
	// Docker's order for the variables it adds.
	env = addEnv(env, "PATH", defaultPathEnv)
	if r.Hostname != "" {
		env = addEnv(env, "HOSTNAME", r.Hostname)
	}
	if r.Terminal || (base.Process != nil && base.Process.Terminal) {
		env = addEnv(env, "TERM", "xterm")
	}
	env = addEnv(env, "HOME", u.home)

	run, err := planRun(base, r)
	if err != nil {
		return nil, err
	}
	annotations := run.annotate(imageAnnotations(base.Annotations, r.Image))

	// Nothing can fail from here on.
	if base.Process == nil {
		base.Process = &specs.Process{}
	}
	p := base.Process
	p.Args = args
	p.Env = env
	p.Cwd = cwd
	p.User.UID = u.uid
	p.User.GID = u.gid
	p.User.AdditionalGids = u.additionalGids
	if r.Hostname != "" {
		base.Hostname = r.Hostname
	}
	base.Annotations = annotations
	run.apply(base)
	return base, nil
}

// imageArgs returns process.args: the entrypoint followed by the command,
// each taken from the run when it gives one and from the image otherwise.
// Docker's rules (docker run --entrypoint; Dockerfile reference, "Understand
// how CMD and ENTRYPOINT interact"): arguments replace Cmd; an entrypoint
// replaces Entrypoint and also drops the image's Cmd, which was written for
// the image's entrypoint.
func imageArgs(cfg ocispec.ImageConfig, r ImageRun) ([]string, error) {
	entrypoint, cmd := cfg.Entrypoint, cfg.Cmd
	if r.EntrypointSet {
		entrypoint, cmd = r.Entrypoint, nil
		// `docker run --entrypoint ""` sends [""]: no entrypoint.
		if len(entrypoint) == 1 && entrypoint[0] == "" {
			entrypoint = nil
		}
	}
	if len(r.Args) > 0 {
		cmd = r.Args
	}
	// A new slice: the result must not share memory with the image config
	// or the run, which the caller may reuse.
	args := slices.Concat(entrypoint, cmd)
	if len(args) == 0 || args[0] == "" {
		return nil, ErrNoCommand
	}
	return args, nil
}

// mergeEnv lays the run's env over the image's by key, keeping the image's
// order and putting new keys after it, in the order given. A key-only run
// entry takes its value from hostEnv or, when hostEnv lacks it, removes the
// key. Image entries must be KEY=value; a key the image repeats keeps its
// first place and its last value.
func mergeEnv(image, run []string, hostEnv func(string) (string, bool)) ([]string, error) {
	env := make([]string, 0, len(image)+len(run))
	for _, kv := range image {
		key, _, ok := strings.Cut(kv, "=")
		if !ok || key == "" {
			return nil, fmt.Errorf("image env entry %q is not KEY=value", kv)
		}
		env = setEnv(env, key, kv)
	}
	for _, kv := range run {
		key, _, ok := strings.Cut(kv, "=")
		if key == "" {
			return nil, fmt.Errorf("env entry %q has no name", kv)
		}
		if !ok {
			var value string
			if hostEnv != nil {
				value, ok = hostEnv(key)
			}
			if !ok {
				env = slices.DeleteFunc(env, func(e string) bool { return envKey(e) == key })
				continue
			}
			kv = key + "=" + value
		}
		env = setEnv(env, key, kv)
	}
	return env, nil
}

// setEnv replaces the entry for key in env with kv, or appends kv.
func setEnv(env []string, key, kv string) []string {
	if i := slices.IndexFunc(env, func(e string) bool { return envKey(e) == key }); i >= 0 {
		env[i] = kv
		return env
	}
	return append(env, kv)
}

// addEnv appends key=value to env unless env has key already.
func addEnv(env []string, key, value string) []string {
	if slices.ContainsFunc(env, func(e string) bool { return envKey(e) == key }) {
		return env
	}
	return append(env, key+"="+value)
}

func envKey(kv string) string {
	key, _, _ := strings.Cut(kv, "=")
	return key
}

func hasNamespace(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	return s.Linux != nil && slices.ContainsFunc(s.Linux.Namespaces,
		func(ns specs.LinuxNamespace) bool { return ns.Type == t })
}

// imageAnnotations returns base's annotations, then those conversion.md
// derives from img, then img's labels: a label wins over a derived
// annotation of the same key (conversion.md, "Annotations"), and both win
// over base's. It returns nil rather than an empty map, so that an image
// without any leaves "annotations" out of config.json.
func imageAnnotations(base map[string]string, img ocispec.Image) map[string]string {
	a := maps.Clone(base)
	if a == nil {
		a = make(map[string]string)
	}
	set := func(key, value string) {
		if value != "" {
			a[key] = value
		}
	}
	set(annotationOS, img.OS)
	set(annotationArchitecture, img.Architecture)
	set(annotationVariant, img.Variant)
	set(annotationOSVersion, img.OSVersion)
	// conversion.md gives no format for a list; comma-separated, as it
	// says for exposedPorts.
	set(annotationOSFeatures, strings.Join(img.OSFeatures, ","))
	set(annotationAuthor, img.Author)
	if img.Created != nil {
		set(annotationCreated, img.Created.Format(time.RFC3339Nano))
	}
	set(annotationStopSignal, img.Config.StopSignal)
	// Sorted: the keys come from a JSON object, whose order means nothing.
	set(annotationExposedPorts, strings.Join(slices.Sorted(maps.Keys(img.Config.ExposedPorts)), ","))
	maps.Copy(a, img.Config.Labels)
	if len(a) == 0 {
		return nil
	}
	return a
}

// execUser is a resolved process.user, with the home directory for HOME.
type execUser struct {
	uid, gid       uint32
	additionalGids []uint32
	home           string
}

// passwdEntry is a line of /etc/passwd: name:password:uid:gid:gecos:home:shell.
type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

// groupEntry is a line of /etc/group: name:password:gid:member,member,...
type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

// ResolveUser turns user[:group] (names or numbers) into the ids FromImage
// would give process.user, looking names up in fsys's etc/passwd and
// etc/group: for a later `exec --user` in a container of the image. The
// rules, and fsys's, are FromImage's; no umask is set.
func ResolveUser(fsys fs.FS, user string) (specs.User, error) {
	u, err := resolveUser(fsys, user)
	if err != nil {
		return specs.User{}, fmt.Errorf("resolve user %q: %w", user, err)
	}
	return specs.User{UID: u.uid, GID: u.gid, AdditionalGids: u.additionalGids}, nil
}

// resolveUser turns a Config.User ("", user, uid, user:group, uid:gid,
// user:gid, uid:group) into ids, the way docker (moby/sys/user) does:
//
//   - A number is always an id, and a name is looked up; a name that is not
//     in /etc/passwd (or /etc/group) is an error, a number that is not there
//     is used as it is. An empty user is uid 0.
//   - The gid is the group's when one is given, otherwise that of the user's
//     passwd entry, 0 without one.
//   - Supplementary groups are the /etc/group entries that list the user's
//     name as a member, without the primary gid, sorted; none when a group
//     is given (image-spec config.md: "supplementary groups from the
//     container are ignored") or the user has no passwd entry.
//   - home is the passwd entry's, "/" without one.
func resolveUser(fsys fs.FS, spec string) (execUser, error) {
	userPart, groupPart, _ := strings.Cut(spec, ":")

	var match func(passwdEntry) bool
	switch {
	case userPart == "":
		match = func(e passwdEntry) bool { return e.uid == 0 }
	case isNumber(userPart):
		uid, err := parseID(userPart)
		if err != nil {
			return execUser{}, fmt.Errorf("parse uid: %w", err)
		}
		match = func(e passwdEntry) bool { return e.uid == uid }
	default:
		match = func(e passwdEntry) bool { return e.name == userPart }
	}
	pw, found, err := findPasswd(fsys, match)
	if err != nil {
		return execUser{}, err
	}
	if !found {
		if userPart != "" && !isNumber(userPart) {
			return execUser{}, fmt.Errorf("look up user %q in /etc/passwd: %w", userPart, ErrUnknownUser)
		}
		// A number not in passwd (or root in an image without one) is
		// used as it is, with gid 0, as docker does.
		pw = passwdEntry{}
		if userPart != "" {
			pw.uid, _ = parseID(userPart) // checked above
		}
	}
	u := execUser{uid: pw.uid, gid: pw.gid, home: pw.home}
	if u.home == "" {
		u.home = "/"
	}

	switch {
	case groupPart != "" && isNumber(groupPart):
		gid, err := parseID(groupPart)
		if err != nil {
			return execUser{}, fmt.Errorf("parse gid: %w", err)
		}
		u.gid = gid
	case groupPart != "":
		var gr groupEntry
		groupFound := false
		err := scanDB(fsys, groupFile, func(fields []string) bool {
			if e, ok := parseGroup(fields); ok && e.name == groupPart {
				gr, groupFound = e, true
				return false
			}
			return true
		})
		if err != nil {
			return execUser{}, err
		}
		if !groupFound {
			return execUser{}, fmt.Errorf("look up group %q in /etc/group: %w", groupPart, ErrUnknownGroup)
		}
		u.gid = gr.gid
	case pw.name != "":
		err := scanDB(fsys, groupFile, func(fields []string) bool {
			if e, ok := parseGroup(fields); ok && e.gid != u.gid && slices.Contains(e.members, pw.name) {
				u.additionalGids = append(u.additionalGids, e.gid)
			}
			return true
		})
		if err != nil {
			return execUser{}, err
		}
		slices.Sort(u.additionalGids)
		u.additionalGids = slices.Compact(u.additionalGids)
	}
	return u, nil
}

// findPasswd returns the first /etc/passwd entry that match accepts.
func findPasswd(fsys fs.FS, match func(passwdEntry) bool) (passwdEntry, bool, error) {
	var pw passwdEntry
	found := false
	err := scanDB(fsys, passwdFile, func(fields []string) bool {
		if e, ok := parsePasswd(fields); ok && match(e) {
			pw, found = e, true
			return false
		}
		return true
	})
	return pw, found, err
}

// parsePasswd reads the fields of a passwd line; ok is false for a line
// without a name or with ids that are not numbers, which is skipped.
func parsePasswd(fields []string) (e passwdEntry, ok bool) {
	if len(fields) < 4 || fields[0] == "" {
		return e, false
	}
	uid, err1 := parseID(fields[2])
	gid, err2 := parseID(fields[3])
	if err1 != nil || err2 != nil {
		return e, false
	}
	e = passwdEntry{name: fields[0], uid: uid, gid: gid}
	if len(fields) > 5 {
		e.home = fields[5]
	}
	return e, true
}

// parseGroup reads the fields of a group line, as parsePasswd.
func parseGroup(fields []string) (e groupEntry, ok bool) {
	if len(fields) < 3 || fields[0] == "" {
		return e, false
	}
	gid, err := parseID(fields[2])
	if err != nil {
		return e, false
	}
	e = groupEntry{name: fields[0], gid: gid}
	if len(fields) > 3 {
		for m := range strings.SplitSeq(fields[3], ",") {
			if m = strings.TrimSpace(m); m != "" {
				e.members = append(e.members, m)
			}
		}
	}
	return e, true
}

// scanDB calls each with the colon-separated fields of every line of the
// file name in fsys, skipping blank lines and comments, until each returns
// false. A missing file (or a nil fsys) has no lines: images without
// /etc/passwd are common. The file is read line by line, so a huge one
// costs no memory, and must be a regular file, so that a FIFO cannot block.
func scanDB(fsys fs.FS, name string, each func(fields []string) bool) error {
	if fsys == nil {
		return nil
	}
	fi, err := fs.Stat(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return &fs.PathError{Op: "read", Path: name, Err: errors.New("not a regular file")}
	}
	f, err := fsys.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if !each(strings.Split(line, ":")) {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return nil
}

// isNumber reports whether s is a non-empty string of decimal digits: a uid
// or gid rather than a name.
func isNumber(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// parseID parses a uid or gid. The largest 32-bit value is refused: it is
// (uid_t)-1, which setresuid(2) and chown(2) take to mean "leave unchanged".
func parseID(s string) (uint32, error) {
	id, err := strconv.ParseUint(s, 10, 32)
	if err != nil || id == math.MaxUint32 {
		return 0, fmt.Errorf("%q is not a number from 0 to %d", s, uint32(math.MaxUint32-1))
	}
	return uint32(id), nil
}
