package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/minirun/minirun/runtime"
)

var createFlags = []cli.Flag{
	&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "bundle `DIR` (config.json and root filesystem)"},
	&cli.StringFlag{Name: "pid-file", Usage: "write init's pid to `FILE`"},
	&cli.StringFlag{Name: "console-socket", Usage: "send the pty master to the unix socket at `PATH`"},
	&cli.BoolFlag{Name: "no-pivot", Usage: "MS_MOVE + chroot instead of pivot_root (root on an initramfs)"},
	&cli.BoolFlag{Name: "no-new-keyring", Usage: "keep the caller's session keyring"},
	&cli.IntFlag{Name: "preserve-fds", Usage: "pass `N` fds after stdio to the process"},
}

func createOpts(ctx *cli.Context) runtime.CreateOpts {
	return runtime.CreateOpts{
		Bundle:        ctx.String("bundle"),
		PidFile:       ctx.String("pid-file"),
		ConsoleSocket: ctx.String("console-socket"),
		NoPivot:       ctx.Bool("no-pivot"),
		NoNewKeyring:  ctx.Bool("no-new-keyring"),
		PreserveFDs:   ctx.Int("preserve-fds"),
	}
}

var createCommand = &cli.Command{
	Name:      "create",
	Usage:     "create a container; its process waits for start",
	ArgsUsage: "ID",
	Flags:     createFlags,
	Action: func(ctx *cli.Context) error {
		id, err := oneID(ctx)
		if err != nil {
			return err
		}
		return rt(ctx).Create(id, createOpts(ctx))
	},
}

var runCommand = &cli.Command{
	Name:      "run",
	Usage:     "create and start a container, and wait for it",
	ArgsUsage: "ID",
	Description: "With --bundle, ID names a new container of that OCI bundle (runc's run).\n" +
		"Without it, the first argument is an image (pulled if missing) and the rest its command.",
	Flags: append(append([]cli.Flag{
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "return once the process runs"},
	}, createFlags...), append(imageRunFlags, pullFlags...)...),
	Action: func(ctx *cli.Context) error {
		if !ctx.IsSet("bundle") {
			return runImage(ctx)
		}
		id, err := oneID(ctx)
		if err != nil {
			return err
		}
		es, err := rt(ctx).Run(id, runtime.RunOpts{CreateOpts: createOpts(ctx), Detach: ctx.Bool("detach")})
		if err != nil {
			reportError(err)
			return exitCode(runFailureCode(err))
		}
		if es.OOMKilled {
			limit := "no memory limit"
			if es.MemoryLimit > 0 {
				limit = fmt.Sprintf("memory limit %d bytes", es.MemoryLimit)
			}
			fmt.Fprintf(os.Stderr, "minirun: container %s was killed by the OOM killer (%s)\n", id, limit)
		}
		return exitIf(es.Code)
	},
}

// runFailureCode follows docker's convention for a run that failed
// before the user's process could run.
func runFailureCode(err error) int {
	switch {
	case runtime.IsNotFound(err):
		return 127
	case runtime.IsNotExecutable(err):
		return 126
	}
	return 125
}

func exitIf(code int) error {
	if code != 0 {
		return exitCode(code)
	}
	return nil
}

var startCommand = &cli.Command{
	Name:      "start",
	Usage:     "start the process of a created container, or run a stopped image container again",
	ArgsUsage: "ID",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "attach", Aliases: []string{"a"}, Usage: "image container: print its output and exit with its status"},
	},
	Action: func(ctx *cli.Context) error {
		id, err := oneID(ctx)
		if err != nil {
			return err
		}
		m, r, err := record(ctx, id)
		if err != nil {
			return err
		}
		if r != nil {
			if st, err := rt(ctx).State(r.ID); err != nil || st.Status != "created" {
				return startContainer(ctx, m, r)
			}
			id = r.ID
		}
		return rt(ctx).Start(id)
	},
}

var stateCommand = &cli.Command{
	Name:      "state",
	Usage:     "print a container's state as OCI state JSON",
	ArgsUsage: "ID",
	Action: func(ctx *cli.Context) error {
		id, err := oneID(ctx)
		if err != nil {
			return err
		}
		st, err := rt(ctx).State(id)
		if err != nil {
			return err
		}
		return printJSON(st)
	},
}

var killCommand = &cli.Command{
	Name:      "kill",
	Usage:     "send a signal (default TERM) to a container's init",
	ArgsUsage: "ID [SIGNAL]",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "signal every process of the container"},
		&cli.StringFlag{Name: "signal", Aliases: []string{"s"}, Usage: "the `SIGNAL` (docker's form; default KILL for image containers)"},
	},
	Action: func(ctx *cli.Context) error {
		if ctx.NArg() < 1 || ctx.NArg() > 2 {
			return fmt.Errorf("kill: expects ID [SIGNAL]")
		}
		id := ctx.Args().First()
		m, r, err := record(ctx, id)
		if err != nil {
			return err
		}
		sig, err := signalOf(ctx, r != nil)
		if err != nil {
			return err
		}
		if r != nil && !ctx.Bool("all") {
			if err := m.Signal(r, sig); err != nil {
				return err
			}
			fmt.Println(id)
			return nil
		}
		if r != nil {
			id = r.ID
		}
		return rt(ctx).Kill(id, sig, ctx.Bool("all"))
	},
}

var deleteCommand = &cli.Command{
	Name:      "delete",
	Usage:     "delete a stopped container (--force: any)",
	ArgsUsage: "ID",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill the container first if it runs"},
	},
	Action: func(ctx *cli.Context) error {
		id, err := oneID(ctx)
		if err != nil {
			return err
		}
		return rt(ctx).Delete(id, ctx.Bool("force"))
	},
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
