package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/minirun/minirun/runtime"
)

var pauseCommand = &cli.Command{
	Name:      "pause",
	Usage:     "freeze every process of a container",
	ArgsUsage: "ID",
	Action: func(ctx *cli.Context) error {
		id, err := oneID(ctx)
		if err != nil {
			return err
		}
		return rt(ctx).Pause(id)
	},
}

var resumeCommand = &cli.Command{
	Name:      "resume",
	Usage:     "thaw a paused container",
	ArgsUsage: "ID",
	Action: func(ctx *cli.Context) error {
		id, err := oneID(ctx)
		if err != nil {
			return err
		}
		return rt(ctx).Resume(id)
	},
}

var updateCommand = &cli.Command{
	Name:      "update",
	Usage:     "change a running container's resource limits",
	ArgsUsage: "ID",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "resources", Aliases: []string{"r"}, Usage: "OCI linux.resources JSON `FILE`, or - for stdin"},
		&cli.StringFlag{Name: "memory", Aliases: []string{"m"}, Usage: "memory limit (bytes, or 64k, 32m, 1g; -1: none)"},
		&cli.StringFlag{Name: "memory-reservation", Usage: "memory soft limit"},
		&cli.StringFlag{Name: "memory-swap", Usage: "memory plus swap limit"},
		&cli.StringFlag{Name: "cpu-shares", Usage: "relative CPU weight"},
		&cli.StringFlag{Name: "cpu-quota", Usage: "CPU time in microseconds per period"},
		&cli.StringFlag{Name: "cpu-period", Usage: "CPU period in microseconds"},
		&cli.StringFlag{Name: "cpuset-cpus", Usage: "CPUs allowed (0-3,5)"},
		&cli.StringFlag{Name: "cpuset-mems", Usage: "memory nodes allowed"},
		&cli.StringFlag{Name: "pids-limit", Usage: "maximum number of processes"},
	},
	Action: func(ctx *cli.Context) error {
		id, err := oneID(ctx)
		if err != nil {
			return err
		}
		var base *specs.LinuxResources
		if path := ctx.String("resources"); path != "" {
			if base, err = readResources(path); err != nil {
				return err
			}
		}
		res, err := runtime.UpdateFlags{
			Memory: ctx.String("memory"), MemoryReservation: ctx.String("memory-reservation"),
			MemorySwap: ctx.String("memory-swap"), CPUShares: ctx.String("cpu-shares"),
			CPUQuota: ctx.String("cpu-quota"), CPUPeriod: ctx.String("cpu-period"),
			CPUSetCPUs: ctx.String("cpuset-cpus"), CPUSetMems: ctx.String("cpuset-mems"),
			PidsLimit: ctx.String("pids-limit"),
		}.Resources(base)
		if err != nil {
			return err
		}
		return rt(ctx).Update(id, res)
	},
}

func readResources(path string) (*specs.LinuxResources, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	var res specs.LinuxResources
	if err := json.NewDecoder(r).Decode(&res); err != nil {
		return nil, fmt.Errorf("--resources %s: %w", path, err)
	}
	return &res, nil
}

var eventsCommand = &cli.Command{
	Name:      "events",
	Usage:     "print a container's resource usage (and OOM kills) as JSON",
	ArgsUsage: "ID",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "stats", Usage: "print the usage once and exit"},
		&cli.DurationFlag{Name: "interval", Value: 5e9, Usage: "time between reports"},
	},
	Action: func(ctx *cli.Context) error {
		id, err := oneID(ctx)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(os.Stdout)
		return rt(ctx).Events(id, ctx.Duration("interval"), ctx.Bool("stats"), func(e runtime.Event) error {
			return enc.Encode(e)
		})
	},
}
