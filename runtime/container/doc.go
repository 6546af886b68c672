// Package container runs containers made from images: the docker-style
// layer that joins the image store (package image) and the OCI runtime
// (package runtime).
//
// The runtime knows only OCI bundles: a directory with config.json and a
// root filesystem. This package makes one per container, under the image
// store:
//
//	STORE/containers/<id>/config.json     the runtime spec: spec.DockerDefault,
//	                                      then the image's config and the
//	                                      command line (spec.FromImage)
//	STORE/containers/<id>/container.json  the record: name, image, options,
//	                                      and its state as last written
//	STORE/containers/<id>/overlay.json    the layer directories it stacks
//	STORE/containers/<id>/rootfs/         an empty mount point
//	STORE/containers/<id>/upper/, work/   overlayfs's writable layer
//	STORE/containers/<id>/etc/            its hostname, hosts, resolv.conf
//	STORE/containers/<id>/log.json        a detached container's output
//	STORE/containers/<id>/run.lock        flock(2): held by the process that
//	                                      runs the container
//	STORE/containers/.lock                flock(2): names stay unique
//
// and hands the runtime the image's layer directories as an overlay
// (rootfs.Overlay). The overlay is mounted by the container's init, inside
// its own mount namespace, so no mount of a container ever appears on the
// host, and none outlives it, whatever happens to minirun.
//
// A foreground run waits for its container itself. A detached one (run
// -d) is held by a monitor (monitor_linux.go): minirun re-executed in its
// own session, a child subreaper, which copies the output into the log
// (logs.go, docker's json-file format), records the exit and removes the
// container after --rm. What a killed monitor could not record, Status
// works out from the runtime's state, and GC cleans up.
//
// A bridged container (network_linux.go, package network) is wired in the
// gap the OCI lifecycle leaves between create and start, as podman does:
// its address and host ports are leased before init exists (a taken port
// fails the run before anything starts), /etc/hosts gets the address, and
// once init waits in its new network namespace the veth is made there
// (runtime.RunOpts.Created). Whoever waits for the container (the
// foreground run or the monitor) releases the lease and rules at the exit;
// the kernel deletes the veth with the namespace. --network container:NAME
// points config.json at the other container's /proc/PID/ns/net anew at each
// start.
//
// Whoever runs a container (the foreground run, or the monitor, which
// inherits it from run -d) holds its run.lock from creation to the end.
// GC (`minirun gc`) leaves every container whose lock is held alone, so it
// is safe at any time, and cleans up after those whose holder died: the
// kernel drops a flock with the last file that holds it, which no crash
// can skip. The test suite proves it by killing minirun at named steps
// (internal/crashpoint, MINIRUN_CRASH_AT, a test hook) and at random
// times, then running gc.
//
// With --init the container's pid 1 is minirun again, as a reaper
// (reaper_linux.go): pid 1 of a pid namespace must reap orphans and gets
// only the signals it handles (pid_namespaces(7)).
//
// inspect --ns (nsreport.go) reads a running container back from the
// kernel rather than from its records: /proc/PID/ns beside pid 1's,
// /proc/PID/status's capability sets and seccomp mode, /proc/PID/cgroup
// and the limit files of those cgroups, and the links of its network
// namespace through a netlink socket made in it.
//
// It sits beside runtime, not below it: runtime never learns about images
// or registries, and image never learns about containers, except through
// the InUse callback that keeps rmi from removing an image a container
// uses.
//
// Man pages: setsid(2), prctl(2) (PR_SET_CHILD_SUBREAPER),
// pid_namespaces(7), network_namespaces(7), flock(2); for inspect --ns,
// namespaces(7), proc(5) (status, cgroup, mountinfo, uid_map),
// capabilities(7), seccomp(2), cgroups(7).
package container
