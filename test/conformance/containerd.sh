#!/usr/bin/env bash
# containerd 1.6 (containerd-shim-runc-v2) driving a given OCI runtime.
#
# Usage: test/conformance/containerd.sh [RUNTIME]
#   RUNTIME  runtime binary (default: minirun built from this checkout)
# Environment:
#   TRACE=0   do not wrap the runtime (default: wrap it and print every call
#             the shim made, its exit status, and on failure the last lines
#             of the --log file the shim passed)
#   EXTRA=1   also try ctr task ps, exec -t, pause/resume, metrics
#
# A private containerd is started with its own root, state, opt dir, gRPC /
# ttrpc / debug sockets under a temp dir (CRI plugin disabled). ctr has no
# daemon-level runtime options for non-CRI clients: `ctr run --runc-binary`
# puts the runtime into the container's io.containerd.runc.v2 options as
# BinaryName (the same field CRI's `options.BinaryName` sets), and
# --runc-root keeps the runtime's --root under the temp dir too.
# The image is a docker-archive tar of a busybox rootfs (ctr images import).
# Exits non-zero if any step failed.
set -u -o pipefail
. "$(dirname "$0")/lib.sh"
need_root
ensure_pkg containerd containerd
command -v ctr >/dev/null || ensure_pkg ctr containerd

T=$(mktemp -d /tmp/mr-ctrd.XXXXXX)
chmod 0755 "$T"
NS=mrconf$$
SOCK=$T/containerd.sock
CTRD_PID=

resolve_runtime "${1:-}" "$T"
RT=$CONF_RUNTIME
CALLS=$T/runtime-calls.log
: >"$CALLS"
if [ "${TRACE:-1}" != 0 ]; then
	make_trace_wrapper "$CONF_RUNTIME" "$T/runtime" "$CALLS"
	RT=$T/runtime
fi

# cgroups runc creates for ctr's default cgroupsPath /$NS/ID: the leaf is
# removed by the runtime, the /$NS parent is ours to remove.
CG_NS=()
for c in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
	[ -e "${c%/}/$NS" ] || CG_NS+=("${c%/}/$NS")
done
SHIMSOCK_BEFORE=$(ls /run/containerd/s 2>/dev/null)
RUN_CTRD_EXISTED=0
[ -e /run/containerd ] && RUN_CTRD_EXISTED=1

C=(ctr -a "$SOCK" -n "$NS")
RUNOPTS=(--runc-binary "$RT" --runc-root "$T/runc-root" --fifo-dir "$T/fifo")
IMG=localhost/mrconf-busybox:latest

cleanup() {
	say "cleanup"
	if [ -n "$CTRD_PID" ] && kill -0 "$CTRD_PID" 2>/dev/null; then
		local id
		for id in $(timeout 20 "${C[@]}" task ls -q 2>/dev/null); do
			timeout 20 "${C[@]}" task kill -s SIGKILL "$id" >/dev/null 2>&1
			sleep 0.5
			timeout 20 "${C[@]}" task delete -f "$id" >/dev/null 2>&1
		done
		for id in $(timeout 20 "${C[@]}" container ls -q 2>/dev/null); do
			timeout 20 "${C[@]}" container delete "$id" >/dev/null 2>&1
		done
		timeout 20 "${C[@]}" images rm "$IMG" >/dev/null 2>&1
		kill -TERM "$CTRD_PID" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$CTRD_PID" 2>/dev/null || break; sleep 0.2; done
		kill -0 "$CTRD_PID" 2>/dev/null && kill -KILL "$CTRD_PID" 2>/dev/null
		note "stopped containerd pid $CTRD_PID"
	fi
	# Shims (and their containers) that outlived containerd: their command
	# line names our socket.
	local pid
	for pid in $(pgrep -f containerd-shim-runc-v2 2>/dev/null); do
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$SOCK" || continue
		kill -KILL "$pid" 2>/dev/null && note "killed leftover shim $pid"
	done
	for pid in /proc/[0-9]*; do
		case "$(readlink "$pid/root" 2>/dev/null)" in "$T"/*)
			kill -KILL "${pid#/proc/}" 2>/dev/null && note "killed leftover container process ${pid#/proc/}" ;;
		esac
	done
	awk '{print $5}' /proc/self/mountinfo | grep -F "$T/" | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null && note "unmounted $m"
	done
	local p
	for p in "${CG_NS[@]}"; do
		[ -d "$p" ] && { rmdir "$p" 2>/dev/null || note "cgroup $p busy"; }
	done
	# Shim sockets live in /run/containerd/s whatever --state says.
	if [ -d /run/containerd/s ]; then
		for p in $(ls /run/containerd/s); do
			printf '%s\n' "$SHIMSOCK_BEFORE" | grep -qxF "$p" || rm -f "/run/containerd/s/$p"
		done
	fi
	if [ "$RUN_CTRD_EXISTED" = 0 ]; then
		rmdir /run/containerd/s /run/containerd/fifo /run/containerd 2>/dev/null
	fi
	rm -rf "$T" 2>/dev/null || note "could not remove $T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

show_calls_since() {
	[ "${TRACE:-1}" = 0 ] && return
	sed -n "$(($1 + 1)),\$p" "$CALLS" | sed -E "s#$T#\$T#g; s/^/   runtime: /"
}
mark() { wc -l <"$CALLS"; }
# shim_errors: the shim's and runtime's error lines from containerd's log.
shim_errors() {
	grep -E 'level=(error|warning)' "$T/containerd.log" | grep -vE 'cri|btrfs|aufs|zfs|devmapper|tracing|snapshotter' |
		tail -n "${1:-3}" | cut -c1-400 | sed "s#$T#\$T#g; s/^/   containerd.log: /"
}

say "runtime: $CONF_RUNTIME ($("$CONF_RUNTIME" --version 2>/dev/null | head -1)); $(containerd --version | awk '{print $1, $3}')"
note "private dir: $T, namespace: $NS"

say "start a private containerd"
mkdir -p "$T/root" "$T/state" "$T/opt" "$T/fifo" "$T/runc-root"
cat >"$T/config.toml" <<EOF
version = 2
root = "$T/root"
state = "$T/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = "$T/debug.sock"
  level = "debug"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$T/opt"
EOF
containerd --config "$T/config.toml" >"$T/containerd.log" 2>&1 &
CTRD_PID=$!
for _ in $(seq 100); do
	[ -S "$SOCK" ] && "${C[@]}" version >/dev/null 2>&1 && break
	kill -0 "$CTRD_PID" 2>/dev/null || break
	sleep 0.1
done
if "${C[@]}" version >/dev/null 2>&1; then
	note "containerd pid $CTRD_PID on $SOCK"
	pass "containerd up"
else
	fail "containerd up" "$(tail -3 "$T/containerd.log")"
	summary; exit 1
fi

say "build a docker-archive tar of a busybox rootfs and ctr images import it"
make_busybox_rootfs "$T/rootfs"
mkdir -p "$T/img/layer"
tar -C "$T/rootfs" -cf "$T/img/layer/layer.tar" .
diff=$(sha256sum "$T/img/layer/layer.tar" | cut -d' ' -f1)
cat >"$T/img/config.json" <<EOF
{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:$diff"]}}
EOF
printf '[{"Config":"config.json","RepoTags":["%s"],"Layers":["layer/layer.tar"]}]\n' "$IMG" >"$T/img/manifest.json"
tar -C "$T/img" -cf "$T/image.tar" manifest.json config.json layer
if out=$("${C[@]}" images import "$T/image.tar" 2>&1) && "${C[@]}" images ls -q | grep -qxF "$IMG"; then
	pass "images import"
else
	fail "images import" "$out"; summary; exit 1
fi

say "ctr run --rm IMG c1 echo hi"
m=$(mark)
out=$(timeout 60 "${C[@]}" run --rm "${RUNOPTS[@]}" "$IMG" c1 echo hi 2>&1); rc=$?
show_calls_since "$m"
note "rc=$rc output: $(printf '%s' "$out" | tail -2)"
if [ "$rc" = 0 ] && [ "$(printf '%s' "$out" | tr -d '\r' | tail -1)" = hi ]; then pass "run --rm echo hi"; else fail "run --rm echo hi" "rc=$rc: $(printf '%s' "$out" | tail -1)"; shim_errors; fi

say "ctr run -d IMG c2 sleep 100"
m=$(mark)
out=$(timeout 60 "${C[@]}" run -d "${RUNOPTS[@]}" "$IMG" c2 sleep 100 2>&1); rc=$?
show_calls_since "$m"
st=$("${C[@]}" task ls 2>/dev/null | awk '$1=="c2"{print $3}')
note "rc=$rc task status: ${st:-none} $(printf '%s' "$out" | tail -1)"
if [ "$rc" = 0 ] && [ "$st" = RUNNING ]; then
	pass "run -d sleep 100"
	RUNNING=1
else
	fail "run -d sleep 100" "rc=$rc status=${st:-none}: $(printf '%s' "$out" | tail -1)"; shim_errors
	RUNNING=0
fi

if [ "$RUNNING" = 1 ]; then
	say "ctr task exec --exec-id x c2 ps"
	m=$(mark)
	out=$(timeout 60 "${C[@]}" task exec --fifo-dir "$T/fifo" --exec-id x c2 ps 2>&1); rc=$?
	show_calls_since "$m"
	printf '%s\n' "$out" | sed 's/^/   | /'
	if [ "$rc" = 0 ] && printf '%s' "$out" | grep -q 'sleep 100'; then pass "task exec ps"; else fail "task exec ps" "rc=$rc: $(printf '%s' "$out" | tail -1)"; shim_errors; fi

	say "ctr task exec --exec-id x2 c2 sh -c 'exit 3' (exit status is passed through)"
	m=$(mark)
	timeout 60 "${C[@]}" task exec --fifo-dir "$T/fifo" --exec-id x2 c2 sh -c 'exit 3' >/dev/null 2>"$T/err"; rc=$?
	show_calls_since "$m"
	if [ "$rc" = 3 ]; then pass "task exec exit status"; else fail "task exec exit status" "rc=$rc (want 3): $(tail -1 "$T/err")"; fi

	if [ "${EXTRA:-0}" = 1 ]; then
		say "extra: ctr task ps c2 (runtime ps --format json)"
		m=$(mark)
		out=$(timeout 30 "${C[@]}" task ps c2 2>&1); rc=$?
		show_calls_since "$m"
		printf '%s\n' "$out" | sed 's/^/   | /'
		if [ "$rc" = 0 ] && [ "$(printf '%s\n' "$out" | wc -l)" -ge 2 ]; then pass "extra: task ps"; else fail "extra: task ps" "rc=$rc: $(printf '%s' "$out" | tail -1)"; fi

		say "extra: ctr task exec -t --exec-id t c2 tty (--console-socket)"
		m=$(mark)
		out=$(timeout 30 script -qec "${C[*]} task exec -t --fifo-dir $T/fifo --exec-id t c2 tty" /dev/null 2>&1 </dev/null); rc=$?
		show_calls_since "$m"
		printf '%s\n' "$out" | tr -d '\r' | sed 's/^/   | /'
		if [ "$rc" = 0 ] && printf '%s' "$out" | tr -d '\r' | grep -q '^/dev/pts/'; then pass "extra: task exec -t"; else fail "extra: task exec -t" "rc=$rc: $(printf '%s' "$out" | tr -d '\r' | tail -1)"; fi

		say "extra: ctr task pause / resume c2"
		m=$(mark)
		out=$(timeout 30 "${C[@]}" task pause c2 2>&1); rc=$?
		show_calls_since "$m"
		st=$("${C[@]}" task ls 2>/dev/null | awk '$1=="c2"{print $3}')
		if [ "$rc" = 0 ] && [ "$st" = PAUSED ]; then pass "extra: task pause"; else fail "extra: task pause" "rc=$rc status=$st: $(printf '%s' "$out" | tail -1)"; fi
		m=$(mark)
		out=$(timeout 30 "${C[@]}" task resume c2 2>&1); rc=$?
		show_calls_since "$m"
		st=$("${C[@]}" task ls 2>/dev/null | awk '$1=="c2"{print $3}')
		if [ "$rc" = 0 ] && [ "$st" = RUNNING ]; then pass "extra: task resume"; else fail "extra: task resume" "rc=$rc status=$st: $(printf '%s' "$out" | tail -1)"; fi

		say "extra: ctr task metrics c2 (the shim reads the cgroup of init from /proc/PID/cgroup)"
		out=$(timeout 30 "${C[@]}" task metrics c2 2>&1); rc=$?
		printf '%s\n' "$out" | grep -E "pids|memory.usage_in_bytes|^ID|^c2" | sed 's/^/   | /'
		# Its own cgroup holds just sleep: pids.current must be there and tiny.
		np=$(printf '%s\n' "$out" | awk '$1=="pids.current"{print $2}')
		if [ "$rc" = 0 ] && [ -n "$np" ] && [ "$np" -le 5 ]; then pass "extra: task metrics"
		else fail "extra: task metrics" "rc=$rc pids.current=${np:-missing} (metrics are not from a per-container cgroup)"; fi
	fi

	say "ctr task kill c2 (SIGTERM: ignored by sleep as pid 1), then kill -s SIGKILL"
	m=$(mark)
	out=$(timeout 30 "${C[@]}" task kill c2 2>&1); rc=$?
	sleep 1
	st=$("${C[@]}" task ls 2>/dev/null | awk '$1=="c2"{print $3}')
	note "after TERM: rc=$rc status=$st $(printf '%s' "$out" | tail -1)"
	out=$(timeout 30 "${C[@]}" task kill -s SIGKILL c2 2>&1); rc2=$?
	for _ in $(seq 50); do
		st=$("${C[@]}" task ls 2>/dev/null | awk '$1=="c2"{print $3}')
		[ "$st" = STOPPED ] && break
		sleep 0.2
	done
	show_calls_since "$m"
	note "after KILL: rc=$rc2 status=$st $(printf '%s' "$out" | tail -1)"
	if [ "$rc" = 0 ] && [ "$rc2" = 0 ] && [ "$st" = STOPPED ]; then pass "task kill"; else fail "task kill" "rc=$rc/$rc2 status=$st: $(printf '%s' "$out" | tail -1)"; shim_errors; fi

	say "ctr task delete c2"
	m=$(mark)
	out=$(timeout 30 "${C[@]}" task delete c2 2>&1); rc=$?
	show_calls_since "$m"
	note "rc=$rc $(printf '%s' "$out" | tail -1)"
	if [ "$rc" = 0 ] && ! "${C[@]}" task ls -q | grep -qx c2; then pass "task delete"; else fail "task delete" "rc=$rc: $(printf '%s' "$out" | tail -1)"; shim_errors; fi

	say "ctr container delete c2"
	out=$(timeout 30 "${C[@]}" container delete c2 2>&1); rc=$?
	if [ "$rc" = 0 ]; then pass "container delete"; else fail "container delete" "rc=$rc: $(printf '%s' "$out" | tail -1)"; fi
fi

if [ "${EXTRA:-0}" = 1 ]; then
	say "extra: ctr run --rm IMG c3 /no-such-binary (the runtime's error must reach the user)"
	m=$(mark)
	out=$(timeout 60 "${C[@]}" run --rm "${RUNOPTS[@]}" "$IMG" c3 /no-such-binary 2>&1); rc=$?
	show_calls_since "$m"
	note "rc=$rc: $(printf '%s' "$out" | tail -1)"
	# containerd takes the message from the last {"level":"error"} line of --log.
	if [ "$rc" != 0 ] && printf '%s' "$out" | grep -qi 'no such file'; then pass "extra: error text propagated"; else fail "extra: error text propagated" "rc=$rc: $(printf '%s' "$out" | tail -1)"; fi
	timeout 20 "${C[@]}" task delete -f c3 >/dev/null 2>&1
	timeout 20 "${C[@]}" container delete c3 >/dev/null 2>&1
fi

summary
