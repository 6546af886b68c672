package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/minirun/minirun/runtime"
	"github.com/minirun/minirun/runtime/spec"
)

var processCommand = runtime.ProcessCommand

var specCommand = &cli.Command{
	Name:  "spec",
	Usage: "write a default config.json",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "bundle `DIR` to write config.json into"},
	},
	Action: func(ctx *cli.Context) error {
		path := filepath.Join(ctx.String("bundle"), "config.json")
		data, err := json.MarshalIndent(spec.Default(), "", "\t")
		if err != nil {
			return err
		}
		// O_EXCL: never overwrite someone's config, as runc refuses too.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("file %s exists: remove it first", path)
		}
		if err != nil {
			return err
		}
		_, err = f.Write(append(data, '\n'))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	},
}

var featuresCommand = &cli.Command{
	Name:  "features",
	Usage: "print what this runtime supports (OCI features JSON)",
	Action: func(ctx *cli.Context) error {
		return printJSON(spec.Features())
	},
}
