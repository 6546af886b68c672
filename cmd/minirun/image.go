package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/image"
	"github.com/minirun/minirun/runtime/container"
)

func store(ctx *cli.Context) (*image.Store, error) {
	s, err := image.Open(ctx.String("store"), logger)
	if s != nil {
		s.Explain = sink
	}
	return s, err
}

// signalContext is cancelled by SIGINT or SIGTERM, so that an interrupted
// pull removes what it had half-written before minirun exits.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, unix.SIGTERM)
}

var pullFlags = []cli.Flag{
	&cli.StringFlag{Name: "platform", Usage: "pull for `OS/ARCH[/VARIANT]` instead of this host's"},
	&cli.StringSliceFlag{Name: "insecure-registry", Usage: "reach `HOST:PORT` over plain HTTP (loopback registries always may)"},
	&cli.StringFlag{Name: "creds", Usage: "registry credentials `USER:PASSWORD` (default: ~/.docker/config.json)"},
}

func pullOptions(ctx *cli.Context, progress io.Writer) (image.PullOptions, error) {
	o := image.PullOptions{
		Platform:  ctx.String("platform"),
		Insecure:  ctx.StringSlice("insecure-registry"),
		Progress:  progress,
		UserAgent: "minirun/" + version,
	}
	if c := ctx.String("creds"); c != "" {
		user, pass, ok := strings.Cut(c, ":")
		if !ok || user == "" {
			return o, errors.New("--creds: want USER:PASSWORD")
		}
		o.Username, o.Password = user, pass
	}
	return o, nil
}

func progressOut(ctx *cli.Context) io.Writer {
	if ctx.Bool("quiet") {
		return nil
	}
	return os.Stderr
}

var pullCommand = &cli.Command{
	Name:      "pull",
	Usage:     "pull an image from a registry into the store",
	ArgsUsage: "IMAGE",
	Flags: append([]cli.Flag{
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress, only the image name"},
	}, pullFlags...),
	Action: func(ctx *cli.Context) error {
		if ctx.NArg() != 1 {
			return fmt.Errorf("pull: expects exactly one image, got %d arguments", ctx.NArg())
		}
		s, err := store(ctx)
		if err != nil {
			return err
		}
		o, err := pullOptions(ctx, progressOut(ctx))
		if err != nil {
			return err
		}
		c, cancel := signalContext()
		defer cancel()
		res, err := s.Pull(c, ctx.Args().First(), o)
		if err != nil {
			return err
		}
		if !ctx.Bool("quiet") {
			status := "Downloaded newer image"
			if res.UpToDate {
				status = "Image is up to date"
			}
			fmt.Fprintf(os.Stderr, "Digest: %s\nStatus: %s for %s\n", res.Image.Digest, status, res.Image.Name)
		}
		fmt.Println(res.Image.Name)
		return nil
	},
}

var imagesCommand = &cli.Command{
	Name:  "images",
	Usage: "list the images in the store",
	Flags: []cli.Flag{
		formatFlag(),
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "image IDs only"},
	},
	Action: func(ctx *cli.Context) error {
		if err := checkFormat(ctx); err != nil {
			return err
		}
		s, err := store(ctx)
		if err != nil {
			return err
		}
		list, err := s.List()
		if err != nil {
			return err
		}
		rows := image.Summarize(list)
		switch {
		case ctx.Bool("quiet"):
			seen := map[string]bool{}
			for _, r := range rows {
				if !seen[r.ID] {
					seen[r.ID] = true
					fmt.Println(r.ShortID())
				}
			}
			return nil
		case ctx.String("format") == "json":
			if rows == nil {
				rows = []image.Summary{}
			}
			return printJSON(rows)
		}
		w := tabwriter.NewWriter(os.Stdout, 10, 1, 3, ' ', 0)
		fmt.Fprintln(w, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
		for _, r := range rows {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.Repository, r.Tag, r.ShortID(), ago(r.Created), image.HumanSize(r.Size))
		}
		return w.Flush()
	},
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "N/A"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "less than a minute ago"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours ago", int(d.Hours()))
	case d < 60*24*time.Hour:
		return fmt.Sprintf("%d days ago", int(d.Hours()/24))
	}
	return fmt.Sprintf("%d months ago", int(d.Hours()/24/30))
}

func inUse(ctx *cli.Context, s *image.Store) image.InUseFunc {
	return container.New(s, rt(ctx), logger).ImagesInUse
}

var rmiCommand = &cli.Command{
	Name:      "rmi",
	Usage:     "remove images, and the layers no other image uses",
	ArgsUsage: "IMAGE...",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "remove even images containers use (their layers stay until they go)"},
	},
	Action: func(ctx *cli.Context) error {
		if ctx.NArg() == 0 {
			return errors.New("rmi: expects at least one image")
		}
		s, err := store(ctx)
		if err != nil {
			return err
		}
		res, err := s.Remove(ctx.Args().Slice(), image.RemoveOptions{Force: ctx.Bool("force"), InUse: inUse(ctx, s)})
		if res != nil {
			for _, n := range res.Untagged {
				fmt.Println("Untagged:", n)
			}
			for _, d := range res.Deleted {
				fmt.Println("Deleted:", d)
			}
		}
		return err
	},
}

var pruneCommand = &cli.Command{
	Name:  "prune",
	Usage: "remove blobs and unpacked layers that no image or container references",
	Action: func(ctx *cli.Context) error {
		s, err := store(ctx)
		if err != nil {
			return err
		}
		res, err := s.Prune(image.RemoveOptions{InUse: inUse(ctx, s)})
		if err != nil {
			return err
		}
		for _, d := range res.Deleted {
			fmt.Println("Deleted:", d)
		}
		fmt.Printf("Deleted %d blobs and %d layer directories; reclaimed %s\n", len(res.Deleted), res.Layers, image.HumanSize(res.Bytes))
		return nil
	},
}

var inspectCommand = &cli.Command{
	Name:      "inspect",
	Usage:     "show an image's manifest and config as JSON",
	ArgsUsage: "IMAGE...",
	Action: func(ctx *cli.Context) error {
		s, err := store(ctx)
		if err != nil {
			return err
		}
		return printEach(ctx, "image", func(ref string) (any, error) {
			im, err := s.Get(ref)
			if err != nil {
				return nil, err
			}
			return image.Inspect(im), nil
		})
	},
}

var loadCommand = &cli.Command{
	Name:  "load",
	Usage: "load images from a docker save archive, an OCI archive or an OCI layout directory",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Required: true, Usage: "read `FILE` (or directory)"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress"},
	},
	Action: func(ctx *cli.Context) error {
		s, err := store(ctx)
		if err != nil {
			return err
		}
		c, cancel := signalContext()
		defer cancel()
		ims, err := s.Load(c, ctx.String("input"), image.LoadOptions{Progress: progressOut(ctx)})
		if err != nil {
			return err
		}
		for _, im := range ims {
			fmt.Println("Loaded image:", im.Name)
		}
		return nil
	},
}

var saveCommand = &cli.Command{
	Name:      "save",
	Usage:     "write images to a tar that is both an OCI archive and a docker save archive",
	ArgsUsage: "IMAGE...",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "write `FILE`"},
	},
	Action: func(ctx *cli.Context) error {
		if ctx.NArg() == 0 {
			return errors.New("save: expects at least one image")
		}
		s, err := store(ctx)
		if err != nil {
			return err
		}
		return s.SaveFile(ctx.String("output"), ctx.Args().Slice())
	},
}

var imageCommand = &cli.Command{
	Name:  "image",
	Usage: "manage images",
	Subcommands: []*cli.Command{
		withName(imagesCommand, "ls"), withName(pullCommand, "pull"), withName(rmiCommand, "rm"),
		inspectCommand, pruneCommand, withName(loadCommand, "load"), withName(saveCommand, "save"),
	},
}

// withName is c under another name (image ls is images).
func withName(c *cli.Command, name string) *cli.Command {
	cp := *c
	cp.Name = name
	return &cp
}
