package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/minirun/minirun/internal/explain"
)

// optionalFormat is the value of --explain and --timing: alone it means text,
// "=json" asks for JSON lines. It is a boolean flag to Go's flag package
// (IsBoolFlag), which is what lets "--explain" stand without a value and
// still take "--explain=json"; "--explain json" would read json as the
// next argument, as for any boolean flag.
type optionalFormat struct{ value string }

func (f *optionalFormat) Set(s string) error {
	if _, _, err := explain.ParseFormat(s); err != nil {
		return err
	}
	f.value = s
	return nil
}

func (f *optionalFormat) String() string { return f.value }

func (f *optionalFormat) IsBoolFlag() bool { return true }

var (
	explainOpt, timingOpt optionalFormat
	// sink is --explain's and --timing's, set up before the verb runs;
	// nil (off) otherwise, which every emit point checks first.
	sink     *explain.Sink
	sinkFile *os.File
)

// explainVerbs take --explain and --explain-file; run takes --timing too.
var explainVerbs = []string{"run", "create", "start", "exec", "pull", "rm"}

func addExplainFlags(cmds []*cli.Command) {
	for _, c := range cmds {
		if !slices.Contains(explainVerbs, c.Name) {
			continue
		}
		c.Flags = append(c.Flags,
			&cli.GenericFlag{Name: "explain", Value: &explainOpt, Usage: "print each kernel-level step to stderr with the man page that explains it (--explain=json: JSON lines)"},
			&cli.StringFlag{Name: "explain-file", Usage: "write --explain's steps to `FILE` instead of stderr"},
		)
		if c.Name == "run" {
			c.Flags = append(c.Flags, &cli.GenericFlag{Name: "timing", Value: &timingOpt, Usage: "print the time spent in each phase when done (--timing=json: JSON lines)"})
		}
		c.Before, c.After = setupExplain, finishExplain
	}
}

func setupExplain(ctx *cli.Context) error {
	f, on, _ := explain.ParseFormat(explainOpt.value)
	path := ctx.String("explain-file")
	_, timing, _ := explain.ParseFormat(timingOpt.value)
	if !on && path == "" && !timing {
		return nil
	}
	var w io.Writer
	switch {
	case path != "":
		file, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return fmt.Errorf("open explain file: %w", err)
		}
		sinkFile, w = file, file
	case on:
		w = os.Stderr
		// A reader that stops early (--explain 2>&1 | head) must not
		// kill minirun halfway through making a container: a write to a
		// broken pipe on fd 2 raises SIGPIPE, which ends a Go program
		// unless it asks for the signal; asked for, the write returns
		// EPIPE, and the sink stops writing (signal.Notify). A handled
		// signal is reset to its default at execve, so the container's
		// process still gets SIGPIPE as usual.
		signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	}
	sink = explain.New(w, f, timing)
	return nil
}

func finishExplain(*cli.Context) error {
	if sink == nil {
		return nil
	}
	var errs []error
	if f, on, _ := explain.ParseFormat(timingOpt.value); on {
		errs = append(errs, sink.WriteTiming(os.Stderr, f))
	}
	if err := sink.Err(); err != nil {
		errs = append(errs, fmt.Errorf("write explained steps: %w", err))
	}
	if sinkFile != nil {
		errs = append(errs, sinkFile.Close())
	}
	return errors.Join(errs...)
}
