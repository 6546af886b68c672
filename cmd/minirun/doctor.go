package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/minirun/minirun/runtime/doctor"
)

var doctorCommand = &cli.Command{
	Name:  "doctor",
	Usage: "check this machine for what containers need, and say how to fix what is missing (exit 1 on a warning or failure)",
	Flags: []cli.Flag{formatFlag()},
	Action: func(ctx *cli.Context) error {
		if err := checkFormat(ctx); err != nil {
			return err
		}
		fs := doctor.Diagnose(doctor.Options{Store: ctx.String("store")})
		render := doctor.Render
		if ctx.String("format") == "json" {
			render = doctor.RenderJSON
		}
		if err := render(os.Stdout, fs); err != nil {
			return err
		}
		if !doctor.Healthy(fs) {
			return exitCode(1)
		}
		return nil
	},
}
