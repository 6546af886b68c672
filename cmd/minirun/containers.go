package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/image"
	"github.com/minirun/minirun/runtime"
	"github.com/minirun/minirun/runtime/container"
)

func manager(ctx *cli.Context) (*container.Manager, error) {
	s, err := store(ctx)
	if err != nil {
		return nil, err
	}
	return container.New(s, rt(ctx), logger), nil
}

// record finds an image container by name, ID or ID prefix; nil (and no
// error) when arg names a plain OCI container of the runtime instead.
func record(ctx *cli.Context, arg string) (*container.Manager, *container.Record, error) {
	if _, err := rt(ctx).State(arg); err == nil && len(arg) != 64 {
		return nil, nil, nil
	}
	m, err := manager(ctx)
	if err != nil {
		return nil, nil, err
	}
	r, err := m.Resolve(arg)
	if errors.Is(err, container.ErrNotFound) {
		// Not an image container: the runtime's verbs say what is
		// wrong in runc's words, which podman and containerd match on.
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return m, r, nil
}

// containerList is `minirun ps` without an ID: docker's list of image
// containers.
func containerList(ctx *cli.Context) error {
	m, err := manager(ctx)
	if err != nil {
		return err
	}
	recs, err := m.Records()
	if err != nil {
		return err
	}
	type row struct {
		ID      string    `json:"id"`
		Name    string    `json:"name"`
		Image   string    `json:"image"`
		Command string    `json:"command"`
		Created time.Time `json:"created"`
		Status  string    `json:"status"`
		State   string    `json:"state"`
		Exit    int       `json:"exitCode"`
		Ports   string    `json:"ports"`
	}
	var rows []row
	for i := len(recs) - 1; i >= 0; i-- { // newest first, as docker
		r := recs[i]
		st := m.Status(r)
		if st.Status != container.StatusRunning && !ctx.Bool("all") {
			continue
		}
		var ports []string
		if st.Status == container.StatusRunning {
			for _, p := range r.Network.Published {
				ports = append(ports, p.String())
			}
		}
		rows = append(rows, row{ID: r.ID, Name: r.Name, Image: familiar(r.Image), Command: strings.Join(r.Command, " "),
			Created: r.Created, Status: statusLine(st), State: st.Status, Exit: st.ExitCode, Ports: strings.Join(ports, ", ")})
	}
	switch {
	case ctx.Bool("quiet"):
		for _, r := range rows {
			fmt.Println(r.ID[:12])
		}
		return nil
	case ctx.String("format") == "json":
		if rows == nil {
			rows = []row{}
		}
		return printJSON(rows)
	}
	w := tabwriter.NewWriter(os.Stdout, 10, 1, 3, ' ', 0)
	fmt.Fprintln(w, "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES")
	for _, r := range rows {
		cmd := r.Command
		if len(cmd) > 20 {
			cmd = cmd[:19] + "…"
		}
		fmt.Fprintf(w, "%s\t%s\t%q\t%s\t%s\t%s\t%s\n", r.ID[:12], r.Image, cmd, ago(r.Created), r.Status, r.Ports, r.Name)
	}
	return w.Flush()
}

func familiar(name string) string {
	if r, err := image.ParseReference(name); err == nil {
		return r.Familiar()
	}
	return name
}

func statusLine(st container.State) string {
	switch st.Status {
	case container.StatusRunning:
		return "Up " + since(st.StartedAt)
	case container.StatusExited:
		return fmt.Sprintf("Exited (%d) %s ago", st.ExitCode, since(st.FinishedAt))
	}
	return "Created"
}

func since(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Second:
		return "less than a second"
	case d < time.Minute:
		return fmt.Sprintf("%d seconds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d minutes", int(d.Minutes()))
	}
	return fmt.Sprintf("%d hours", int(d.Hours()))
}

// eachContainer runs f on every named container, printing each name as
// docker does, and fails at the end if any failed.
func eachContainer(ctx *cli.Context, verb string, f func(*container.Manager, *container.Record) error) error {
	if ctx.NArg() == 0 {
		return fmt.Errorf("%s: expects at least one container", verb)
	}
	m, err := manager(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, arg := range ctx.Args().Slice() {
		r, err := m.Resolve(arg)
		if err == nil {
			err = f(m, r)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Println(arg)
	}
	return errors.Join(errs...)
}

var stopCommand = &cli.Command{
	Name:      "stop",
	Usage:     "stop containers: the stop signal, then SIGKILL after a timeout",
	ArgsUsage: "CONTAINER...",
	Flags: []cli.Flag{
		&cli.IntFlag{Name: "time", Aliases: []string{"t"}, Value: -1, Usage: "`SECONDS` to wait before SIGKILL (default: the container's --stop-timeout, else 10)"},
	},
	Action: func(ctx *cli.Context) error {
		timeout := time.Duration(ctx.Int("time")) * time.Second
		return eachContainer(ctx, "stop", func(m *container.Manager, r *container.Record) error {
			return m.Stop(r, timeout)
		})
	},
}

var rmCommand = &cli.Command{
	Name:      "rm",
	Usage:     "remove containers made from images",
	ArgsUsage: "CONTAINER...",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill running containers first"},
		&cli.BoolFlag{Name: "volumes", Aliases: []string{"v"}, Usage: "remove anonymous volumes too (they always go: they live in the container's directory)"},
	},
	Action: func(ctx *cli.Context) error {
		return eachContainer(ctx, "rm", func(m *container.Manager, r *container.Record) error {
			return m.Remove(r, ctx.Bool("force"))
		})
	},
}

var logsCommand = &cli.Command{
	Name:      "logs",
	Usage:     "show a detached container's output",
	ArgsUsage: "CONTAINER",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new output until the container exits"},
		&cli.StringFlag{Name: "since", Usage: "only output since `TIME` (RFC 3339, Unix time, or a duration ago: 10m)"},
		&cli.StringFlag{Name: "tail", Value: "all", Usage: "only the last `N` lines"},
		&cli.BoolFlag{Name: "timestamps", Aliases: []string{"t"}, Usage: "prefix each line with its time"},
	},
	Action: func(ctx *cli.Context) error {
		m, r, err := oneContainer(ctx)
		if err != nil {
			return err
		}
		o := container.ReadOptions{Follow: ctx.Bool("follow"), Timestamps: ctx.Bool("timestamps"), Tail: -1}
		if t := ctx.String("tail"); t != "all" {
			if o.Tail, err = strconv.Atoi(t); err != nil || o.Tail < 0 {
				return fmt.Errorf("--tail %q: want a number or all", t)
			}
		}
		if s := ctx.String("since"); s != "" {
			if o.Since, err = container.ParseSince(s, time.Now()); err != nil {
				return err
			}
		}
		c, cancel := signalContext()
		defer cancel()
		if o.Follow {
			done := make(chan struct{})
			o.Done = done
			go func() {
				m.Wait(c, r)
				close(done)
			}()
		}
		return container.ReadLog(c, m.LogPath(r), o, os.Stdout, os.Stderr)
	},
}

var inspectContainerCommand = &cli.Command{
	Name:      "inspect",
	Usage:     "show containers as JSON: record, state, config; --ns: a running one's kernel view",
	ArgsUsage: "CONTAINER...",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "ns", Usage: "show one running container's namespaces beside the host's, cgroup and limits, capabilities, seccomp and interfaces"},
		formatFlag(),
	},
	Action: func(ctx *cli.Context) error {
		if ctx.Bool("ns") {
			return inspectNS(ctx)
		}
		m, err := manager(ctx)
		if err != nil {
			return err
		}
		return printEach(ctx, "container", func(arg string) (any, error) {
			r, err := m.Resolve(arg)
			if err != nil {
				return nil, err
			}
			return m.Inspect(r)
		})
	},
}

// inspectNS is `inspect --ns`: the report is a table for a person, or
// JSON with --format json.
func inspectNS(ctx *cli.Context) error {
	if err := checkFormat(ctx); err != nil {
		return err
	}
	m, r, err := oneContainer(ctx)
	if err != nil {
		return err
	}
	rep, err := m.NamespaceReport(r)
	if err != nil {
		return err
	}
	if ctx.String("format") == "json" {
		return printJSON(rep)
	}
	return rep.WriteTable(os.Stdout)
}

var waitCommand = &cli.Command{
	Name:      "wait",
	Usage:     "wait for containers to exit and print their exit codes",
	ArgsUsage: "CONTAINER...",
	Action: func(ctx *cli.Context) error {
		c, cancel := signalContext()
		defer cancel()
		if ctx.NArg() == 0 {
			return errors.New("wait: expects at least one container")
		}
		m, err := manager(ctx)
		if err != nil {
			return err
		}
		for _, arg := range ctx.Args().Slice() {
			r, err := m.Resolve(arg)
			if err != nil {
				return err
			}
			code, err := m.Wait(c, r)
			if err != nil {
				return err
			}
			fmt.Println(code)
		}
		return nil
	},
}

var topCommand = &cli.Command{
	Name:      "top",
	Usage:     "list a container's processes",
	ArgsUsage: "CONTAINER",
	Action: func(ctx *cli.Context) error {
		m, r, err := oneContainer(ctx)
		if err != nil {
			return err
		}
		pids, err := m.Pids(r)
		if err != nil {
			return err
		}
		return printPids(pids)
	},
}

var gcCommand = &cli.Command{
	Name:  "gc",
	Usage: "remove what crashed or killed minirun processes left behind",
	Action: func(ctx *cli.Context) error {
		m, err := manager(ctx)
		if err != nil {
			return err
		}
		rep, err := m.GC()
		if err != nil {
			return err
		}
		for _, n := range rep.States {
			fmt.Println("state removed:", n)
		}
		for _, n := range rep.Containers {
			fmt.Println("container removed:", n)
		}
		for _, n := range rep.Dirs {
			fmt.Println("unfinished container directory removed:", n)
		}
		for _, id := range rep.Networks {
			fmt.Println("network released:", id)
		}
		return nil
	},
}

// startContainer is docker's start for an image container: run it again.
func startContainer(ctx *cli.Context, m *container.Manager, r *container.Record) error {
	if err := m.Start(r); err != nil {
		return err
	}
	if !ctx.Bool("attach") {
		fmt.Println(ctx.Args().First())
		return nil
	}
	c, cancel := signalContext()
	defer cancel()
	done := make(chan struct{})
	var code int
	go func() {
		code, _ = m.Wait(c, r)
		close(done)
	}()
	if err := container.ReadLog(c, m.LogPath(r), container.ReadOptions{Follow: true, Tail: 0, Done: done}, os.Stdout, os.Stderr); err != nil {
		return err
	}
	<-done
	return exitIf(code)
}

// signalOf reads kill's signal: -s, else the positional one, else TERM
// (runc) or KILL (docker, for an image container).
func signalOf(ctx *cli.Context, image bool) (unix.Signal, error) {
	s := ctx.String("signal")
	if s == "" {
		s = ctx.Args().Get(1)
	}
	if s == "" && image {
		s = "KILL"
	}
	return runtime.ParseSignal(s)
}

// oneContainer resolves the single container a verb takes.
func oneContainer(ctx *cli.Context) (*container.Manager, *container.Record, error) {
	if ctx.NArg() != 1 {
		return nil, nil, fmt.Errorf("%s: expects exactly one container, got %d arguments", ctx.Command.Name, ctx.NArg())
	}
	m, err := manager(ctx)
	if err != nil {
		return nil, nil, err
	}
	r, err := m.Resolve(ctx.Args().First())
	return m, r, err
}

// printEach prints, as one JSON array, what get returns for each argument
// (inspect and image inspect).
func printEach(ctx *cli.Context, what string, get func(string) (any, error)) error {
	if ctx.NArg() == 0 {
		return fmt.Errorf("%s: expects at least one %s", ctx.Command.FullName(), what)
	}
	var out []any
	for _, arg := range ctx.Args().Slice() {
		v, err := get(arg)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	return printJSON(out)
}
