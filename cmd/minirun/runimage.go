package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/minirun/minirun/runtime/container"
)

// imageRunFlags are run's flags for an image (without --bundle).
var imageRunFlags = []cli.Flag{
	&cli.BoolFlag{Name: "rm", Usage: "remove the container when it exits"},
	&cli.StringFlag{Name: "name", Usage: "name the container"},
	&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set `KEY=VALUE` (or pass KEY from here)"},
	&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working `DIR` inside the container"},
	&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "`NAME|UID[:GROUP|GID]` to run as"},
	&cli.StringFlag{Name: "entrypoint", Usage: "replace the image's entrypoint (\"\" clears it)"},
	&cli.StringFlag{Name: "hostname", Usage: "the container's host name"},
	&cli.StringFlag{Name: "pull", Value: container.PullMissing, Usage: "pull the image: missing, always or never"},
}

func runImage(ctx *cli.Context) error {
	if ctx.NArg() == 0 {
		return exitWith(125, errors.New("run: expects an image (or --bundle DIR and a container id)"))
	}
	if ctx.Bool("detach") {
		return exitWith(125, errors.New("run: -d with an image is not supported yet"))
	}
	s, err := store(ctx)
	if err != nil {
		return exitWith(125, err)
	}
	po, err := pullOptions(ctx, os.Stderr)
	if err != nil {
		return exitWith(125, err)
	}
	o := container.RunOptions{
		Image:       ctx.Args().First(),
		Args:        ctx.Args().Tail(),
		Name:        ctx.String("name"),
		Remove:      ctx.Bool("rm"),
		Pull:        ctx.String("pull"),
		PullOptions: po,
		Notice:      os.Stderr,
		Env:         ctx.StringSlice("env"),
		WorkingDir:  ctx.String("workdir"),
		User:        ctx.String("user"),
		Hostname:    ctx.String("hostname"),
	}
	if ctx.IsSet("entrypoint") {
		o.EntrypointSet = true
		if e := ctx.String("entrypoint"); e != "" {
			o.Entrypoint = []string{e}
		}
	}
	c, cancel := signalContext()
	defer cancel()
	es, err := container.New(s, rt(ctx), logger).Run(c, o)
	if err != nil {
		reportError(err)
		return exitCode(runFailureCode(err))
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
