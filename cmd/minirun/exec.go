package main

import (
	"fmt"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/minirun/minirun/runtime"
	"github.com/minirun/minirun/runtime/spec"
)

var execCommand = &cli.Command{
	Name:      "exec",
	Usage:     "run a process in a container",
	ArgsUsage: "ID [COMMAND [ARG...]]",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "process", Aliases: []string{"p"}, Usage: "OCI process JSON `FILE` (instead of COMMAND and the flags)"},
		&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "give the process a pseudo-terminal"},
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "return once the process runs"},
		&cli.StringFlag{Name: "pid-file", Usage: "write the process's pid to `FILE`"},
		&cli.StringFlag{Name: "console-socket", Usage: "send the pty master to the unix socket at `PATH`"},
		&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set `KEY=VALUE` in the environment"},
		&cli.StringFlag{Name: "cwd", Aliases: []string{"w", "workdir"}, Usage: "working `DIR` inside the container"},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "`UID[:GID]` to run as (names too, for image containers)"},
		&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "image container: keep stdin attached (else /dev/null)"},
		&cli.StringSliceFlag{Name: "additional-gids", Aliases: []string{"g"}, Usage: "extra `GID`s"},
		&cli.StringSliceFlag{Name: "cap", Aliases: []string{"c"}, Usage: "add a capability"},
		&cli.BoolFlag{Name: "no-new-privs", Usage: "set no_new_privs"},
		&cli.IntFlag{Name: "preserve-fds", Usage: "pass `N` fds after stdio to the process"},
	},
	Action: func(ctx *cli.Context) error {
		if ctx.NArg() < 1 {
			return fmt.Errorf("exec: expects ID [COMMAND...]")
		}
		o := runtime.ExecOpts{
			PidFile:       ctx.String("pid-file"),
			ConsoleSocket: ctx.String("console-socket"),
			Detach:        ctx.Bool("detach"),
			PreserveFDs:   ctx.Int("preserve-fds"),
		}
		if f := ctx.String("process"); f != "" {
			p, err := spec.LoadProcess(f)
			if err != nil {
				return err
			}
			o.Process = p
		} else {
			o.Flags = runtime.ExecFlags{
				Args:       ctx.Args().Tail(),
				Env:        ctx.StringSlice("env"),
				Cwd:        ctx.String("cwd"),
				User:       ctx.String("user"),
				TTY:        ctx.Bool("tty"),
				Caps:       ctx.StringSlice("cap"),
				NoNewPrivs: ctx.Bool("no-new-privs"),
			}
			for _, g := range ctx.StringSlice("additional-gids") {
				n, err := strconv.ParseUint(g, 10, 32)
				if err != nil {
					return fmt.Errorf("exec: --additional-gids %q is not a number", g)
				}
				o.Flags.AdditionalGids = append(o.Flags.AdditionalGids, uint32(n))
			}
		}
		id := ctx.Args().First()
		m, r, err := record(ctx, id)
		if err != nil {
			return exitWith(125, err)
		}
		var es runtime.ExitStatus
		if r != nil {
			if err := m.ExecFlags(r, &o, ctx.Bool("interactive")); err != nil {
				return exitWith(125, err)
			}
			es, err = m.Exec(r, o)
		} else {
			es, err = rt(ctx).Exec(id, o)
		}
		if err != nil {
			reportError(err)
			return exitCode(runFailureCode(err))
		}
		return exitIf(es.Code)
	},
}
