// Package spec reads, checks and produces OCI runtime configurations: the
// config.json at the heart of every container minirun runs.
//
// # Bundles and config.json
//
// An OCI bundle is a directory that holds everything a runtime needs to start
// one container:
//
//	bundle/
//	├── config.json   what to run and how to isolate it
//	└── rootfs/       the container's root filesystem (the name is set in config.json)
//
// config.json is the runtime-spec's Spec serialised as JSON. It says which
// process to start (args, env, cwd, user, capabilities, rlimits), where the
// root filesystem is (root.path, relative to the bundle unless absolute),
// what to mount on top of it, which hooks to call, and, under "linux", which
// namespaces to create or join, the cgroup limits, devices, sysctls and the
// paths to mask. Podman, containerd and Docker write a bundle and call the
// runtime with its path (`minirun create --bundle DIR ID`); `minirun run`
// writes one of its own from an image. Either way, the runtime only ever
// sees a bundle.
//
// # What this package does
//
//   - [Default] returns the config.json that `minirun spec` writes: runc's
//     default, so tools and tutorials written for runc work unchanged.
//   - [Load] reads BUNDLE/config.json and [Validate]s it: each problem comes
//     back as one line naming the file and the JSON field at fault, wrapping
//     [ErrInvalid]. A missing or unreadable file comes back as the
//     [os.PathError] from reading it instead, so callers can tell "no bundle
//     here" (errors.Is(err, fs.ErrNotExist)) from "a bundle with a mistake"
//     (errors.Is(err, ErrInvalid)).
//   - [LoadProcess] and [ValidateProcess] do the same for a lone Process, the
//     JSON that `minirun exec --process FILE` gets.
//   - [FromImage] turns an image's config and the options of
//     `minirun run IMAGE [CMD...]` into the config.json of the bundle that
//     `minirun run` writes (see "From an image" below), on top of
//     [DockerDefault], docker's base config; [ParseBytes], [ParseCPUs],
//     [ParseUlimit], [ParseVolume] and the other Parse functions read the
//     values of run's flags as the docker CLI reads them (see "docker run"
//     below).
//   - [DefaultSeccomp] is the seccomp profile of `minirun run IMAGE`, an
//     allow-list like docker's that follows the container's capabilities;
//     [ParseSeccompProfile] reads a profile file (--security-opt
//     seccomp=FILE) in the OCI shape or docker's and podman's. A seccomp
//     filter (seccomp(2)) runs on every system call of the process and
//     may refuse it before the kernel does anything; the runtime compiles
//     linux.seccomp into one and installs it just before execve.
//   - [Features] describes what minirun understands, printed by
//     `minirun features`, and [CapabilityNames] maps capability numbers to
//     their names.
//
// Validation checks that a config is well-formed: fields the spec requires
// are present, paths that must be absolute are, names come from the sets the
// spec or the kernel defines. It does not decide whether minirun supports a
// well-formed feature (a user namespace, say, or an unknown but well-formed
// capability); the runtime does that where it applies the config, so that the
// error comes from the code that knows why. Unknown JSON fields are accepted:
// configs written by other tools routinely carry extensions.
//
// # From an image
//
// An OCI image carries a config (Entrypoint, Cmd, Env, WorkingDir, User,
// Labels, ...) that says how its authors meant it to run. image-spec
// conversion.md says how that becomes a runtime config; `docker run` says
// how flags override it. [FromImage] does both, on top of a base config
// ([DockerDefault] for `minirun run`) that supplies everything an image has
// no say in: namespaces, mounts, capabilities, rlimits.
//
//   - The command is Entrypoint followed by Cmd. Arguments after the image
//     name replace Cmd; --entrypoint replaces Entrypoint and drops Cmd too,
//     since an image's Cmd is written as arguments for its own entrypoint.
//     No command at all is [ErrNoCommand].
//   - The environment is the image's, with -e entries laid over it by name;
//     a name alone takes the caller's value or, when the caller has none,
//     removes the variable. PATH, HOME, HOSTNAME and TERM are added only when
//     missing, never changed: conversion.md lets a runtime add variables but
//     not override the image's.
//   - The user is resolved in the image's own /etc/passwd and /etc/group,
//     not the host's: a name means whatever the image says it means. A
//     number needs no entry; a name without one is [ErrUnknownUser] or
//     [ErrUnknownGroup]. Supplementary groups come from /etc/group, unless a
//     group was given.
//   - Labels become annotations, along with the ones conversion.md derives
//     from the image (os, architecture, stopSignal, exposedPorts, ...); a
//     label wins over a derived annotation of the same name.
//
// The image's Volumes are not turned into mounts: conversion.md leaves
// that to the implementation, and without a mount a write there lands in
// the container's own root filesystem, like any other. Only the run's
// volumes (-v) become mounts.
//
// # docker run
//
// `minirun run` takes docker's flags and means by them what docker does, so
// that a command line written for docker works unchanged. The work is split
// in three, each part pure data:
//
//  1. The CLI reads each flag's value with the Parse function for it:
//     [ParseBytes] (-m, --shm-size), [ParseMemorySwap], [ParseCPUs],
//     [ParseUlimit], [ParseVolume], [ParseTmpfs], [ParseSysctl],
//     [ParseLabel], [ParseEnvFile] (--env-file). These follow the docker
//     CLI's parsers, error texts aside.
//  2. The caller does what needs the host: it finds the directory behind a
//     named or anonymous volume ([VolumeSpec] to [Volume]), writes the
//     container's /etc/hosts, /etc/hostname and /etc/resolv.conf, and
//     finds the init binary.
//  3. [FromImage] lays the flags, in [ImageRun], over [DockerDefault] the
//     way docker's daemon lays them over its default spec (moby's
//     daemon/oci_linux.go): --cap-add and --cap-drop with docker's rules
//     for ALL, --privileged, --read-only, mounts, resources, rlimits,
//     sysctls, --network none or host, --init, labels and the stop
//     signal. A value docker would refuse is an error naming the flag.
//
// Some of docker's checks need the host and are not made here: that --cpus
// is at most the number of CPUs, that a capability is one the kernel knows,
// that the kernel can account swap (without that, docker drops the swap
// limit it would otherwise set to the memory limit).
//
// FromImage reads the image's /etc/passwd and /etc/group through an
// [io/fs.FS]; the files come from the image, so that FS must keep symbolic
// links inside the image's root (an [os.Root]'s FS does, [os.DirFS] does
// not).
//
// # When not to use it
//
// This package only reads files (and, given a relative bundle path, asks for
// the current directory). It cannot tell whether the kernel supports what a
// config asks for; that is learnt by trying, in the runtime. Nor does it turn
// a config into actions: the rootfs, cgroups and runtime packages do that.
//
// # Further reading
//
// The runtime-spec, v1.3.0, which the types in
// github.com/opencontainers/runtime-spec/specs-go implement:
//
//   - bundle.md: https://github.com/opencontainers/runtime-spec/blob/v1.3.0/bundle.md
//   - config.md (every field of config.json): https://github.com/opencontainers/runtime-spec/blob/v1.3.0/config.md
//   - config-linux.md (the "linux" object): https://github.com/opencontainers/runtime-spec/blob/v1.3.0/config-linux.md
//   - runtime.md (the create/start/kill/delete lifecycle and when hooks run): https://github.com/opencontainers/runtime-spec/blob/v1.3.0/runtime.md
//   - features.md (the document [Features] returns): https://github.com/opencontainers/runtime-spec/blob/v1.3.0/features.md
//
// The image-spec, v1.1.1, whose Image type [ImageRun] carries, and docker's
// rules for overriding an image's command:
//
//   - config.md (the image config and its User forms): https://github.com/opencontainers/image-spec/blob/v1.1.1/config.md
//   - conversion.md (image config to runtime config): https://github.com/opencontainers/image-spec/blob/v1.1.1/conversion.md
//   - "Understand how CMD and ENTRYPOINT interact": https://docs.docker.com/reference/dockerfile/#understand-how-cmd-and-entrypoint-interact
//
// And the man pages behind the fields: namespaces(7), capabilities(7),
// getrlimit(2), mount(8), proc(5), passwd(5), group(5), seccomp(2).
package spec
