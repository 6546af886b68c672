package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/minirun/minirun/network"
	"github.com/minirun/minirun/runtime/container"
)

// networks opens the store's network manager.
func networks(ctx *cli.Context) (*network.Manager, error) {
	m, err := manager(ctx)
	if err != nil {
		return nil, err
	}
	return m.Networks()
}

var networkCommand = &cli.Command{
	Name:  "network",
	Usage: "manage bridge networks (the default one, minirun, is bridge minirun0 on 10.88.0.0/16)",
	Subcommands: []*cli.Command{
		{
			Name:      "create",
			Usage:     "make a named network with a bridge of its own",
			ArgsUsage: "NAME",
			Flags:     []cli.Flag{&cli.StringFlag{Name: "subnet", Usage: "IPv4 `CIDR` (default: the first free 10.89.N.0/24)"}},
			Action: func(ctx *cli.Context) error {
				if ctx.NArg() != 1 {
					return exitWith(1, fmt.Errorf("network create: expects one NAME"))
				}
				var subnet netip.Prefix
				if v := ctx.String("subnet"); v != "" {
					p, err := netip.ParsePrefix(v)
					if err != nil {
						return fmt.Errorf("--subnet %q: %w", v, err)
					}
					subnet = p
				}
				n, err := networks(ctx)
				if err != nil {
					return err
				}
				net, err := n.Create(context.Background(), ctx.Args().First(), subnet)
				if err != nil {
					return err
				}
				fmt.Println(net.Name)
				return nil
			},
		},
		{
			Name:    "ls",
			Aliases: []string{"list"},
			Usage:   "list networks",
			Flags:   []cli.Flag{&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "names only"}},
			Action: func(ctx *cli.Context) error {
				n, err := networks(ctx)
				if err != nil {
					return err
				}
				nets, err := n.List()
				if err != nil {
					return err
				}
				if ctx.Bool("quiet") {
					for _, net := range nets {
						fmt.Println(net.Name)
					}
					return nil
				}
				w := tabwriter.NewWriter(os.Stdout, 10, 1, 3, ' ', 0)
				fmt.Fprintln(w, "NAME\tBRIDGE\tSUBNET\tGATEWAY")
				for _, net := range nets {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", net.Name, net.Bridge, net.Subnet, net.Gateway)
				}
				return w.Flush()
			},
		},
		{
			Name:      "inspect",
			Usage:     "show networks and the addresses leased on them, as JSON",
			ArgsUsage: "NAME...",
			Action: func(ctx *cli.Context) error {
				n, err := networks(ctx)
				if err != nil {
					return err
				}
				leases, err := n.Leases()
				if err != nil {
					return err
				}
				type out struct {
					network.Network
					Leases []*network.Lease `json:"leases"`
				}
				var all []out
				for _, name := range ctx.Args().Slice() {
					net, err := n.Get(name)
					if err != nil {
						return err
					}
					o := out{Network: net, Leases: []*network.Lease{}}
					for _, l := range leases {
						if l.Network == net.Name {
							o.Leases = append(o.Leases, l)
						}
					}
					all = append(all, o)
				}
				return printJSON(all)
			},
		},
		{
			Name:      "rm",
			Aliases:   []string{"remove"},
			Usage:     "remove named networks (refused while a container uses one)",
			ArgsUsage: "NAME...",
			Action: func(ctx *cli.Context) error {
				n, err := networks(ctx)
				if err != nil {
					return err
				}
				if ctx.NArg() == 0 {
					return fmt.Errorf("network rm: expects at least one NAME")
				}
				for _, name := range ctx.Args().Slice() {
					if err := n.Remove(context.Background(), name); err != nil {
						return err
					}
					fmt.Println(name)
				}
				return nil
			},
		},
	},
}

var portCommand = &cli.Command{
	Name:      "port",
	Usage:     "list a running container's published ports",
	ArgsUsage: "CONTAINER [PORT[/PROTO]]",
	Action: func(ctx *cli.Context) error {
		if n := ctx.NArg(); n < 1 || n > 2 {
			return fmt.Errorf("port: expects a container and maybe a PORT[/PROTO], got %d arguments", n)
		}
		m, err := manager(ctx)
		if err != nil {
			return err
		}
		r, err := m.Resolve(ctx.Args().First())
		if err != nil {
			return err
		}
		if st := m.Status(r); st.Status != container.StatusRunning {
			return fmt.Errorf("container %s is not running", r.Name)
		}
		want := ctx.Args().Get(1)
		if want != "" && !strings.Contains(want, "/") {
			want += "/tcp"
		}
		for _, p := range r.Network.Published {
			private := strconv.Itoa(int(p.ContainerPort)) + "/" + p.Protocol
			if want != "" && want != private {
				continue
			}
			host := "0.0.0.0"
			if p.HostIP.IsValid() {
				host = p.HostIP.String()
			}
			fmt.Printf("%s -> %s:%d\n", private, host, p.HostPort)
		}
		return nil
	},
}
