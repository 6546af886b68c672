package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/minirun/minirun/network"
	"github.com/minirun/minirun/runtime/container"
	"github.com/minirun/minirun/runtime/spec"
)

// imageRunFlags are run's flags for an image (without --bundle), with
// docker's names and meanings.
var imageRunFlags = []cli.Flag{
	&cli.BoolFlag{Name: "rm", Usage: "remove the container when it exits"},
	&cli.StringFlag{Name: "name", Usage: "name the container"},
	&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "keep stdin attached"},
	&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "give the process a pseudo-terminal"},
	&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set `KEY=VALUE` (or pass KEY from here)"},
	&cli.StringSliceFlag{Name: "env-file", Usage: "read KEY=VALUE lines from `FILE`"},
	&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working `DIR` inside the container"},
	&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "`NAME|UID[:GROUP|GID]` to run as"},
	&cli.StringFlag{Name: "entrypoint", Usage: "replace the image's entrypoint (\"\" clears it)"},
	&cli.StringFlag{Name: "hostname", Usage: "the container's host name (default: its short ID)"},
	&cli.StringSliceFlag{Name: "volume", Aliases: []string{"v"}, Usage: "`HOST:CTR[:ro]` bind, or NAME:CTR named volume"},
	&cli.StringSliceFlag{Name: "tmpfs", Usage: "mount a tmpfs at `DIR[:OPTIONS]`"},
	&cli.BoolFlag{Name: "read-only", Usage: "mount / read-only"},
	&cli.StringFlag{Name: "memory", Aliases: []string{"m"}, Usage: "memory limit (`BYTES`: 512m, 1g)"},
	&cli.StringFlag{Name: "memory-swap", Usage: "memory plus swap limit (`BYTES`, -1: unlimited)"},
	&cli.StringFlag{Name: "cpus", Usage: "CPU `N`umber (1.5: one and a half CPUs)"},
	&cli.Uint64Flag{Name: "cpu-shares", Usage: "relative CPU `WEIGHT`"},
	&cli.Int64Flag{Name: "pids-limit", Usage: "process `N`umber limit (-1: unlimited)"},
	&cli.StringSliceFlag{Name: "cap-add", Usage: "add a `CAP`ability (ALL: all)"},
	&cli.StringSliceFlag{Name: "cap-drop", Usage: "drop a `CAP`ability (ALL: all)"},
	&cli.BoolFlag{Name: "privileged", Usage: "every capability, no masked paths"},
	&cli.StringSliceFlag{Name: "security-opt", Usage: "no-new-privileges, seccomp=unconfined or seccomp=`FILE`"},
	&cli.StringSliceFlag{Name: "ulimit", Usage: "`NAME=SOFT[:HARD]` (nofile=1024:2048)"},
	&cli.StringSliceFlag{Name: "sysctl", Usage: "`KEY=VALUE` (namespaced ones only)"},
	&cli.BoolFlag{Name: "init", Usage: "run a small reaper as pid 1 that forwards signals"},
	&cli.StringFlag{Name: "network", Aliases: []string{"net"}, Value: "bridge", Usage: "bridge, none, host, container:`NAME` or a network's name"},
	&cli.StringSliceFlag{Name: "publish", Aliases: []string{"p"}, Usage: "publish a port: `[HOSTIP:][HOSTPORT:]PORT[/tcp|udp]`"},
	&cli.BoolFlag{Name: "publish-all", Aliases: []string{"P"}, Usage: "publish every port the image exposes on a random host port"},
	&cli.StringSliceFlag{Name: "dns", Usage: "name server `ADDRESS` for /etc/resolv.conf"},
	&cli.StringSliceFlag{Name: "dns-search", Usage: "search `DOMAIN` for /etc/resolv.conf"},
	&cli.StringSliceFlag{Name: "dns-option", Usage: "`OPTION` for /etc/resolv.conf"},
	&cli.StringSliceFlag{Name: "add-host", Usage: "`NAME:ADDRESS` line for /etc/hosts"},
	&cli.StringFlag{Name: "stop-signal", Usage: "`SIGNAL` for stop (default: the image's, else TERM)"},
	&cli.IntFlag{Name: "stop-timeout", Usage: "`SECONDS` stop waits before SIGKILL (default 10)"},
	&cli.StringSliceFlag{Name: "label", Aliases: []string{"l"}, Usage: "`KEY=VALUE` annotation"},
	&cli.StringFlag{Name: "shm-size", Usage: "size of /dev/shm (`BYTES`, default 64m)"},
	&cli.StringFlag{Name: "pull", Value: container.PullMissing, Usage: "pull the image: missing, always or never"},
}

// imageRun turns the flags into the container's options. Every parse
// error names its flag.
func imageRun(ctx *cli.Context) (container.RunOptions, error) {
	var err error
	r := spec.ImageRun{
		Args:            ctx.Args().Tail(),
		HostEnv:         os.LookupEnv,
		WorkingDir:      ctx.String("workdir"),
		User:            ctx.String("user"),
		Hostname:        ctx.String("hostname"),
		Terminal:        ctx.Bool("tty"),
		ReadOnly:        ctx.Bool("read-only"),
		CPUShares:       ctx.Uint64("cpu-shares"),
		PidsLimit:       ctx.Int64("pids-limit"),
		CapAdd:          ctx.StringSlice("cap-add"),
		CapDrop:         ctx.StringSlice("cap-drop"),
		Privileged:      ctx.Bool("privileged"),
		StopSignal:      ctx.String("stop-signal"),
		Init:            ctx.Bool("init"),
		Labels:          map[string]string{},
		Sysctls:         map[string]string{},
		EntrypointSet:   ctx.IsSet("entrypoint"),
		NoNewPrivileges: false,
	}
	if r.EntrypointSet && ctx.String("entrypoint") != "" {
		r.Entrypoint = []string{ctx.String("entrypoint")}
	}
	if r.Init {
		if r.InitPath, err = os.Executable(); err != nil {
			return container.RunOptions{}, fmt.Errorf("--init: %w", err)
		}
	}
	for _, f := range ctx.StringSlice("env-file") {
		fh, err := os.Open(f)
		if err != nil {
			return container.RunOptions{}, fmt.Errorf("--env-file: %w", err)
		}
		env, err := spec.ParseEnvFile(fh)
		fh.Close()
		if err != nil {
			return container.RunOptions{}, fmt.Errorf("--env-file %s: %w", f, err)
		}
		r.Env = append(r.Env, env...)
	}
	r.Env = append(r.Env, ctx.StringSlice("env")...) // -e wins over --env-file
	for flag, dst := range map[string]*int64{"memory": &r.Memory, "shm-size": &r.ShmSize} {
		if v := ctx.String(flag); v != "" {
			if *dst, err = spec.ParseBytes(v); err != nil {
				return container.RunOptions{}, fmt.Errorf("--%s: %w", flag, err)
			}
		}
	}
	if v := ctx.String("memory-swap"); v != "" {
		if r.MemorySwap, err = spec.ParseMemorySwap(v); err != nil {
			return container.RunOptions{}, fmt.Errorf("--memory-swap: %w", err)
		}
	}
	if v := ctx.String("cpus"); v != "" {
		if r.CPUs, err = spec.ParseCPUs(v); err != nil {
			return container.RunOptions{}, fmt.Errorf("--cpus: %w", err)
		}
	}
	for _, v := range ctx.StringSlice("ulimit") {
		u, err := spec.ParseUlimit(v)
		if err != nil {
			return container.RunOptions{}, fmt.Errorf("--ulimit: %w", err)
		}
		r.Ulimits = append(r.Ulimits, u)
	}
	for _, v := range ctx.StringSlice("sysctl") {
		k, val, err := spec.ParseSysctl(v)
		if err != nil {
			return container.RunOptions{}, fmt.Errorf("--sysctl: %w", err)
		}
		r.Sysctls[k] = val
	}
	for _, v := range ctx.StringSlice("label") {
		k, val, err := spec.ParseLabel(v)
		if err != nil {
			return container.RunOptions{}, fmt.Errorf("--label: %w", err)
		}
		r.Labels[k] = val
	}
	for _, v := range ctx.StringSlice("tmpfs") {
		t, err := spec.ParseTmpfs(v)
		if err != nil {
			return container.RunOptions{}, fmt.Errorf("--tmpfs: %w", err)
		}
		r.Tmpfs = append(r.Tmpfs, t)
	}
	for _, v := range ctx.StringSlice("security-opt") {
		if err := r.SetSecurityOpt(v, os.ReadFile); err != nil {
			return container.RunOptions{}, fmt.Errorf("--security-opt: %w", err)
		}
	}
	var vols []spec.VolumeSpec
	for _, v := range ctx.StringSlice("volume") {
		vs, err := spec.ParseVolume(v)
		if err != nil {
			return container.RunOptions{}, fmt.Errorf("--volume: %w", err)
		}
		vols = append(vols, vs)
	}
	net := container.NetworkOptions{
		Network:    ctx.String("network"),
		PublishAll: ctx.Bool("publish-all"),
		DNS:        ctx.StringSlice("dns"),
		DNSSearch:  ctx.StringSlice("dns-search"),
		DNSOptions: ctx.StringSlice("dns-option"),
		AddHosts:   ctx.StringSlice("add-host"),
	}
	for _, v := range ctx.StringSlice("publish") {
		ps, err := network.ParsePort(v)
		if err != nil {
			return container.RunOptions{}, fmt.Errorf("--publish: %w", err)
		}
		net.Ports = append(net.Ports, ps...)
	}
	po, err := pullOptions(ctx, os.Stderr)
	if err != nil {
		return container.RunOptions{}, err
	}
	return container.RunOptions{
		Image:       ctx.Args().First(),
		Name:        ctx.String("name"),
		Remove:      ctx.Bool("rm"),
		Detach:      ctx.Bool("detach"),
		Interactive: ctx.Bool("interactive"),
		Pull:        ctx.String("pull"),
		PullOptions: po,
		Notice:      os.Stderr,
		Spec:        r,
		Volumes:     vols,
		Net:         net,
		StopTimeout: ctx.Int("stop-timeout"),
		Log:         container.LogOptions{MaxSize: 10 << 20, MaxFiles: 3},
	}, nil
}

func runImage(ctx *cli.Context) error {
	if ctx.NArg() == 0 {
		return exitWith(125, errors.New("run: expects an image (or --bundle DIR and a container id)"))
	}
	o, err := imageRun(ctx)
	if err != nil {
		return exitWith(125, err)
	}
	m, err := manager(ctx)
	if err != nil {
		return exitWith(125, err)
	}
	c, cancel := signalContext()
	defer cancel()
	if o.Detach {
		rec, err := m.RunDetached(c, o)
		if err != nil {
			return exitWith(runFailureCode(err), err)
		}
		fmt.Println(rec.ID)
		return nil
	}
	es, err := m.Run(c, o)
	if err != nil {
		return exitWith(runFailureCode(err), err)
	}
	if es.OOMKilled {
		fmt.Fprintf(os.Stderr, "minirun: the container was killed by the OOM killer\n")
	}
	return exitIf(es.Code)
}

// exitWith reports err and exits with code (docker's 125: minirun failed).
func exitWith(code int, err error) error {
	reportError(err)
	return exitCode(code)
}
