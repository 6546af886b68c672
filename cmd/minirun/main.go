// Command minirun is a small container runtime: it runs OCI bundles with a
// runc-compatible command line. See the README for the tour.
//
// The Go runtime (1.25 and later) reads the cgroup CPU limit at start and
// keeps the host's cgroup files open to follow it. A container runtime must
// not: those fds would take the numbers that --preserve-fds hands to the
// container, and init would start with host cgroup files open.
//
//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	goruntime "runtime"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/minirun/minirun/image"
	"github.com/minirun/minirun/runtime"
	"github.com/minirun/minirun/runtime/container"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func init() {
	// A container's init re-execs this binary. It must keep its main
	// goroutine on the main thread from the very start: it changes
	// per-thread state (mounts, credentials) and then calls execve from
	// that same thread.
	if runtime.IsInit() {
		goruntime.LockOSThread()
	}
}

func main() {
	if runtime.IsInit() {
		runtime.Init() // never returns
	}
	if runtime.IsMonitor() {
		runtime.Monitor() // never returns
	}
	if container.IsMonitor() {
		container.Monitor() // never returns
	}
	if container.IsReaper() {
		container.Reaper() // never returns
	}
	app := newApp()
	if err := app.Run(os.Args); err != nil {
		var ec exitCode
		if errors.As(err, &ec) {
			os.Exit(int(ec))
		}
		reportError(err)
		os.Exit(1)
	}
}

// exitCode is returned by verbs that exit with the container's status.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// logger is set up by the global flags before any verb runs.
var (
	logger  *slog.Logger
	logFile io.Writer
)

// reportError prints err as one line on stderr and, when --log is a file,
// as its last record too: containerd reads the error from there.
func reportError(err error) {
	fmt.Fprintln(os.Stderr, "minirun:", err)
	if logger != nil && logFile != nil && logFile != os.Stderr {
		logger.Error(err.Error())
	}
}

func newApp() *cli.App {
	app := &cli.App{
		Name:                   "minirun",
		Usage:                  "run containers from OCI bundles, and see how",
		Version:                version,
		HideHelpCommand:        true,
		UseShortOptionHandling: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "root", Value: runtime.DefaultRoot, Usage: "directory for container state"},
			&cli.StringFlag{Name: "store", Value: image.DefaultRoot, EnvVars: []string{"MINIRUN_STORE"}, Usage: "directory of the image store"},
			&cli.StringFlag{Name: "log", Usage: "write logs to `FILE` (default: stderr)"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format: text or json"},
			&cli.BoolFlag{Name: "debug", Usage: "log each kernel-level step"},
			&cli.BoolFlag{Name: "systemd-cgroup", Hidden: true, Usage: "not supported"},
		},
		Before: setupLogging,
		Commands: []*cli.Command{
			specCommand, createCommand, startCommand, stateCommand, killCommand,
			deleteCommand, runCommand, execCommand, listCommand, psCommand,
			featuresCommand, pauseCommand, resumeCommand, updateCommand, eventsCommand,
			pullCommand, imagesCommand, rmiCommand, imageCommand, loadCommand, saveCommand,
			stopCommand, rmCommand, logsCommand, inspectContainerCommand, waitCommand, topCommand, gcCommand,
			networkCommand, portCommand, doctorCommand,
		},
		ExitErrHandler: func(*cli.Context, error) {}, // main reports errors
	}
	addExplainFlags(app.Commands)
	return app
}

func setupLogging(ctx *cli.Context) error {
	if ctx.Bool("systemd-cgroup") {
		return errors.New("--systemd-cgroup is not supported: minirun manages cgroups itself")
	}
	var w io.Writer = os.Stderr
	if path := ctx.String("log"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_SYNC, 0o644)
		if err != nil {
			return fmt.Errorf("open log file: %w", err)
		}
		w = f
	}
	logFile = w
	// Levels in lower case, as runc (logrus) writes them: containerd takes
	// the error it reports from the last {"level":"error"} record.
	lower := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.LevelKey {
			a.Value = slog.StringValue(strings.ToLower(a.Value.String()))
		}
		return a
	}
	opts := &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: lower}
	if ctx.Bool("debug") {
		opts.Level = slog.LevelDebug
	}
	switch ctx.String("log-format") {
	case "text":
		logger = slog.New(slog.NewTextHandler(w, opts))
	case "json":
		logger = slog.New(slog.NewJSONHandler(w, opts))
	default:
		return fmt.Errorf("--log-format %q: must be text or json", ctx.String("log-format"))
	}
	return nil
}

func rt(ctx *cli.Context) *runtime.Runtime {
	r := runtime.New(ctx.String("root"), logger)
	r.Explain = sink
	return r
}

// oneID returns the single container id a verb takes.
func oneID(ctx *cli.Context) (string, error) {
	if ctx.NArg() != 1 {
		return "", fmt.Errorf("%s: expects exactly one container id, got %d arguments", ctx.Command.Name, ctx.NArg())
	}
	return ctx.Args().First(), nil
}
