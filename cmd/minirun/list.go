package main

import (
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
)

func formatFlag() cli.Flag {
	return &cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"}
}

func checkFormat(ctx *cli.Context) error {
	if f := ctx.String("format"); f != "table" && f != "json" {
		return fmt.Errorf("--format %q: must be table or json", f)
	}
	return nil
}

var listCommand = &cli.Command{
	Name:  "list",
	Usage: "list containers",
	Flags: []cli.Flag{
		formatFlag(),
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "ids only"},
	},
	Action: func(ctx *cli.Context) error {
		if err := checkFormat(ctx); err != nil {
			return err
		}
		list, err := rt(ctx).List()
		if err != nil {
			return err
		}
		switch {
		case ctx.Bool("quiet"):
			for _, c := range list {
				fmt.Println(c.ID)
			}
			return nil
		case ctx.String("format") == "json":
			if list == nil {
				fmt.Println("null")
				return nil
			}
			return printJSON(list)
		}
		w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
		fmt.Fprintln(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED")
		for _, c := range list {
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", c.ID, c.Pid, c.Status, c.Bundle, c.Created.Format(time.RFC3339Nano))
		}
		return w.Flush()
	},
}

var psCommand = &cli.Command{
	Name:      "ps",
	Usage:     "without ID: list image containers (docker's ps); with ID: the processes of a container (runc's ps)",
	ArgsUsage: "[ID]",
	Flags: []cli.Flag{
		formatFlag(),
		&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "exited containers too"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "IDs only"},
	},
	Action: func(ctx *cli.Context) error {
		if err := checkFormat(ctx); err != nil {
			return err
		}
		if ctx.NArg() == 0 {
			return containerList(ctx)
		}
		id, err := oneID(ctx)
		if err != nil {
			return err
		}
		pids, err := rt(ctx).Pids(id)
		if err != nil {
			return err
		}
		if ctx.String("format") == "json" {
			if pids == nil {
				pids = []int{}
			}
			return printJSON(pids)
		}
		return printPids(pids)
	},
}

// printPids is ps ID's and top's table: each process with its command line.
func printPids(pids []int) error {
	w := tabwriter.NewWriter(os.Stdout, 6, 1, 2, ' ', 0)
	fmt.Fprintln(w, "PID\tCMD")
	for _, pid := range pids {
		fmt.Fprintf(w, "%d\t%s\n", pid, processCommand(pid))
	}
	return w.Flush()
}
