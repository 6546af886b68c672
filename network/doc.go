// Package network gives a container a network: an interface in its own
// network namespace, an address on a bridge, a route out through the
// host, published ports, and the resolv.conf and hosts files that go with
// them. It works like docker's default bridge network, with nftables
// instead of iptables and without a userland proxy.
//
// # The pieces
//
// A network namespace (network_namespaces(7)) is a separate copy of the
// network stack: interfaces, addresses, routes, netfilter rules, sockets
// and the sysctls under /proc/sys/net. The container's namespace starts
// with only lo, down. Namespaces belong to threads, not processes:
// setns(2) and unshare(2) with CLONE_NEWNET move one thread, sockets are
// created in their creator's namespace, and /proc/sys/net shows the
// namespace of the thread that opens it.
//
// A veth pair (veth(4)) is a cable with two ends; a packet sent into one
// comes out of the other, and the ends may sit in different namespaces.
// Deleting either end deletes both, and destroying a namespace deletes the
// ends inside it, so a container's veth disappears with the container.
// The host end is called mr-<first 12 hex of the container ID> (15 bytes,
// the most IFNAMSIZ allows), the container end eth0.
//
// A bridge (ip-link(8) type bridge) is a software switch. The host ends
// of all veths of one network are its ports, so containers of a network
// reach each other at layer 2. The bridge also carries the network's
// gateway address (10.88.0.1/16 on minirun0 for the default network), so
// the host routes between the containers and everything else. Named
// networks get bridges minirun1, minirun2, ...
//
// All of this is configured over rtnetlink (rtnetlink(7), netlink(7)),
// the socket interface ip(8) uses, through github.com/vishvananda/netlink:
// no ip(8) binary, no cgo. A netlink socket acts in the namespace it was
// created in, so Attach holds one socket created in the container's
// namespace (netlink.NewHandleAt) and one in the host's; the library
// enters the namespace on a locked thread just to create the socket and
// returns at once. The container end of the veth is created directly
// inside the container's namespace (IFLA_NET_NS_FD on the peer): all of
// Attach takes about 2 ms, while moving an existing link to another
// namespace unregisters it first and waits for RCU grace periods, tens of
// milliseconds, as deleting one does.
//
// # Routing and NAT
//
// net.ipv4.ip_forward=1 (proc_sys_net(5)) lets the host route packets
// between the bridge and its other interfaces; Attach turns it on in the
// host namespace and logs at Info when it had to.
//
// The rules live in one nftables table, ip minirun (nft(8)), written over
// netlink with github.com/google/nftables in single transactions (a batch
// is applied all or nothing). Netfilter calls a base chain at a hook:
//
//	prerouting  (nat, dstnat)  packets arriving: from other hosts, from containers
//	output      (nat, dstnat)  packets the host itself sends
//	postrouting (nat, srcnat)  every packet about to leave an interface
//	forward     (filter)       packets routed through the host
//
// DNAT (destination NAT) publishes a port: a connection to one of the
// host's own addresses ("fib daddr type local") on the host port gets the
// container's address and port as its destination, in prerouting for
// connections from outside and in output for the host's own. Masquerade
// is source NAT to the address of the interface a packet leaves by: a
// container's connection to the world leaves with the host's address.
// Both rely on conntrack (conntrack(8)): NAT is decided on a connection's
// first packet, and every later packet, replies included, is rewritten the
// same way, so one rule per direction is enough.
//
// Reaching a published port at 127.0.0.1 needs two more things. The
// kernel drops packets with a loopback source on any interface but lo,
// unless net.ipv4.conf.<bridge>.route_localnet=1 (the kernel's
// Documentation/networking/ip-sysctl.rst); and the container could not
// answer 127.0.0.1, which is its own loopback, so such connections are
// masqueraded to the bridge's address on their way out. A container
// reaching a published port of a container on its own bridge (hairpin) is
// masqueraded too, or the reply would skip the host and reach the client
// from an address it never called.
//
// The forward chain drops traffic from one minirun bridge to another, so
// named networks are isolated from each other, and accepts the networks'
// own traffic, replies (ct state established,related) and DNATed
// connections (ct status dnat). Its policy stays accept. nftables runs
// every base chain registered at a hook, iptables' included, and a drop
// in any of them is final: on a host where another firewall drops
// forwarded traffic, that firewall must allow the minirun bridges too.
//
// # Describe, then apply
//
// PlanAttach returns the steps of Attach as plain data with a String in
// the words of ip(8), sysctl(8) and nft(8), and Attach carries out exactly
// those steps; TableRules, NetworkRules and ContainerRules describe the
// ruleset the same way. All of it is tested without root. If a step
// fails, Attach removes what it made and names the step:
// "attach network: create veth mr-0123456789ab: file exists".
//
// # State, locking and cleaning up
//
// A Manager keeps network definitions and leases as JSON files under one
// root, and takes ROOT/lock with flock(2) around every change of the
// files or of the rules, so any number of processes can allocate at once
// without sharing an address or a host port. Allocate reserves everything
// (address, MAC 02:42:<IPv4 address>, veth name, host ports) before
// anything is created; a host port that is taken fails there with
// ErrPortInUse.
//
// Everything minirun creates carries its name: bridges minirunN, veths
// mr-*, table minirun, and on every rule a comment (nftables user data)
// naming the owner: "minirun base", "minirun net NAME", "minirun ctr ID".
// Detach and GC find a container's rules by that comment, and GC removes
// whatever belongs to containers that are gone, and nothing else.
//
// The Manager's host side is the namespace of the thread that called
// Open. Netlink and nftables sockets are created there from a held file
// descriptor whatever thread calls later; the few operations that depend
// on the calling thread (binding a port to test it, writing a sysctl) run
// on a thread that joins that namespace for the purpose when the caller
// is elsewhere. That is how the tests run everything in throwaway
// namespaces and never touch the machine's own.
//
// # When not to use it
//
// This is IPv4 only, one bridge per network, on one host: no IPv6, no
// overlay or VLAN networks, no DNS server for container names (the hosts
// file has the container's own name only), no rootless networking (that
// needs slirp4netns or pasta; everything here needs CAP_NET_ADMIN in the
// host namespace).
//
// Man pages: network_namespaces(7), veth(4), netlink(7), rtnetlink(7),
// ip-link(8), ip-address(8), ip-route(8), nft(8), conntrack(8),
// proc_sys_net(5), resolv.conf(5), hosts(5), flock(2), setns(2).
package network
