#!/usr/bin/env bash
# Everyday podman use (podman 4.3 + conmon) with a given OCI runtime.
#
# Usage: test/conformance/podman.sh [RUNTIME]
#   RUNTIME  runtime binary (default: minirun built from this checkout)
# Environment:
#   TRACE=0        do not wrap the runtime (default: wrap it and print every
#                  runtime call podman/conmon made, with its exit status)
#   PODMAN_DEBUG=1 run podman with --log-level=debug
#   EXTRA=1        also try run -t, a non-zero exit code, pause/unpause
#
# Everything lives under a private temp dir: --root, --runroot, --tmpdir,
# cgroupfs manager, file events backend, --network none. The image is a
# busybox rootfs imported with `podman import`. Podman's default rlimits
# cannot be applied on hosts without CAP_SYS_RESOURCE, so every container
# gets --ulimit nofile=1024:1024 --ulimit nproc=1024:1024.
# Exits non-zero if any step failed.
set -u -o pipefail
. "$(dirname "$0")/lib.sh"
need_root
ensure_pkg podman podman
command -v conmon >/dev/null || ensure_pkg conmon conmon

T=$(mktemp -d /tmp/mr-podman.XXXXXX)
chmod 0755 "$T"
SHM_LOCK_EXISTED=0
[ -e /dev/shm/libpod_lock ] && SHM_LOCK_EXISTED=1

resolve_runtime "${1:-}" "$T"
RT=$CONF_RUNTIME
CALLS=$T/runtime-calls.log
: >"$CALLS"
if [ "${TRACE:-1}" != 0 ]; then
	make_trace_wrapper "$CONF_RUNTIME" "$T/runtime" "$CALLS"
	RT=$T/runtime
fi

P=(podman --root "$T/root" --runroot "$T/run" --tmpdir "$T/tmp"
	--cgroup-manager cgroupfs --events-backend file --runtime "$RT")
[ "${PODMAN_DEBUG:-0}" = 1 ] && P+=(--log-level=debug)
RUNOPTS=(--network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
IMG=localhost/mrconf-busybox:latest

cleanup() {
	say "cleanup"
	timeout 60 "${P[@]}" rm -af -t 0 >/dev/null 2>&1
	timeout 60 "${P[@]}" system reset -f >/dev/null 2>&1
	# Anything still mounted under our dir (overlay layers, shm, netns).
	awk '{print $5}' /proc/self/mountinfo | grep -F "$T/" | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null && note "unmounted $m"
	done
	# Leftover conmon processes for our containers.
	local pid
	for pid in $(pgrep -x conmon 2>/dev/null); do
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$T/" && kill -KILL "$pid" 2>/dev/null && note "killed conmon $pid"
	done
	rm -rf "$T" 2>/dev/null || note "could not remove $T"
	[ "$SHM_LOCK_EXISTED" = 0 ] && rm -f /dev/shm/libpod_lock
}
trap cleanup EXIT
trap 'exit 130' INT TERM

show_calls_since() { # print runtime calls logged after line $1
	[ "${TRACE:-1}" = 0 ] && return
	sed -n "$(($1 + 1)),\$p" "$CALLS" | sed -E "s#$T#\$T#g; s/([0-9a-f]{12})[0-9a-f]{52}/\1../g; s/^/   runtime: /"
}
mark() { wc -l <"$CALLS"; }

say "runtime: $CONF_RUNTIME ($("$CONF_RUNTIME" --version 2>/dev/null | head -1)); podman $(podman --version | awk '{print $3}'); conmon $(conmon --version | awk 'NR==1{print $3}')"
note "private dir: $T"

say "build a busybox rootfs tar and podman import it as $IMG"
make_busybox_rootfs "$T/rootfs"
tar -C "$T/rootfs" -cf "$T/rootfs.tar" .
if "${P[@]}" import "$T/rootfs.tar" "$IMG" >"$T/out" 2>&1; then pass "import"; else fail "import" "$(tail -1 "$T/out")"; summary; exit 1; fi

say "podman run --rm $IMG echo hi"
m=$(mark)
out=$(timeout 120 "${P[@]}" run --rm "${RUNOPTS[@]}" "$IMG" echo hi 2>&1); rc=$?
show_calls_since "$m"
note "rc=$rc output: $(printf '%s' "$out" | tail -3)"
if [ "$rc" = 0 ] && [ "$(printf '%s' "$out" | tail -1)" = hi ]; then pass "run --rm echo hi"; else fail "run --rm echo hi" "rc=$rc: $(printf '%s' "$out" | tail -1)"; fi

say "podman run -d $IMG sleep 100"
m=$(mark)
CID=$(timeout 120 "${P[@]}" run -d "${RUNOPTS[@]}" "$IMG" sleep 100 2>"$T/err"); rc=$?
show_calls_since "$m"
CID=$(printf '%s' "$CID" | tail -1)
note "rc=$rc cid=${CID:0:12} $(tail -1 "$T/err")"
if [ "$rc" = 0 ] && [ -n "$CID" ]; then
	st=$("${P[@]}" inspect -f '{{.State.Status}}' "$CID" 2>&1)
	note "state: $st"
	if [ "$st" = running ]; then pass "run -d sleep 100"; else fail "run -d sleep 100" "state $st"; fi
else
	fail "run -d sleep 100" "rc=$rc: $(tail -1 "$T/err")"
	CID=
fi

if [ -n "$CID" ]; then
	say "podman exec CID ps"
	m=$(mark)
	out=$(timeout 60 "${P[@]}" exec "$CID" ps 2>&1); rc=$?
	show_calls_since "$m"
	printf '%s\n' "$out" | sed 's/^/   | /'
	if [ "$rc" = 0 ] && printf '%s' "$out" | grep -q 'sleep 100'; then pass "exec ps"; else fail "exec ps" "rc=$rc: $(printf '%s' "$out" | tail -1)"; fi

	say "podman exec -t CID tty (needs a pty from the runtime via --console-socket)"
	m=$(mark)
	out=$(timeout 60 "${P[@]}" exec -t "$CID" tty 2>&1 </dev/null); rc=$?
	show_calls_since "$m"
	printf '%s\n' "$out" | sed 's/^/   | /'
	if [ "$rc" = 0 ] && printf '%s' "$out" | grep -q '^/dev/pts/'; then pass "exec -t tty"; else fail "exec -t tty" "rc=$rc: $(printf '%s' "$out" | tr -d '\r' | tail -1)"; fi

	say "podman exec CID sh -c 'exit 3' (exit status is passed through)"
	m=$(mark)
	timeout 60 "${P[@]}" exec "$CID" sh -c 'exit 3' >/dev/null 2>"$T/err"; rc=$?
	show_calls_since "$m"
	if [ "$rc" = 3 ]; then pass "exec exit status"; else fail "exec exit status" "rc=$rc (want 3): $(tail -1 "$T/err")"; fi

	say "podman stop -t 2 CID (TERM is ignored by sleep as pid 1, then KILL)"
	m=$(mark)
	out=$(timeout 120 "${P[@]}" stop -t 2 "$CID" 2>&1); rc=$?
	show_calls_since "$m"
	st=$("${P[@]}" inspect -f '{{.State.Status}} exit={{.State.ExitCode}}' "$CID" 2>&1)
	note "rc=$rc state: $st $(printf '%s' "$out" | grep -v "^$CID" | tail -1)"
	if [ "$rc" = 0 ] && [ "${st%% *}" = exited ]; then pass "stop"; else fail "stop" "rc=$rc state=$st: $(printf '%s' "$out" | tail -1)"; fi

	say "podman rm CID"
	m=$(mark)
	out=$(timeout 60 "${P[@]}" rm "$CID" 2>&1); rc=$?
	show_calls_since "$m"
	if [ "$rc" = 0 ] && ! "${P[@]}" container exists "$CID" 2>/dev/null; then pass "rm"; else fail "rm" "rc=$rc: $(printf '%s' "$out" | tail -1)"; fi
fi

if [ "${EXTRA:-0}" = 1 ]; then
	say "extra: podman run --rm -t $IMG tty (create with --console-socket)"
	m=$(mark)
	out=$(timeout 60 "${P[@]}" run --rm -t "${RUNOPTS[@]}" "$IMG" tty 2>&1 </dev/null); rc=$?
	show_calls_since "$m"
	printf '%s\n' "$out" | tr -d '\r' | sed 's/^/   | /'
	if [ "$rc" = 0 ] && printf '%s' "$out" | grep -q '^/dev/pts/'; then pass "extra: run -t tty"; else fail "extra: run -t tty" "rc=$rc: $(printf '%s' "$out" | tr -d '\r' | tail -1)"; fi

	say "extra: podman run --rm $IMG sh -c 'exit 7'"
	m=$(mark)
	timeout 60 "${P[@]}" run --rm "${RUNOPTS[@]}" "$IMG" sh -c 'exit 7' >/dev/null 2>"$T/err"; rc=$?
	show_calls_since "$m"
	if [ "$rc" = 7 ]; then pass "extra: run exit code"; else fail "extra: run exit code" "rc=$rc (want 7): $(tail -1 "$T/err")"; fi

	say "extra: podman pause / unpause"
	CID=$(timeout 120 "${P[@]}" run -d "${RUNOPTS[@]}" "$IMG" sleep 100 2>"$T/err" | tail -1)
	if [ -n "$CID" ]; then
		m=$(mark)
		out=$(timeout 60 "${P[@]}" pause "$CID" 2>&1); rc=$?
		show_calls_since "$m"
		st=$("${P[@]}" inspect -f '{{.State.Status}}' "$CID" 2>&1)
		if [ "$rc" = 0 ] && [ "$st" = paused ]; then pass "extra: pause"; else fail "extra: pause" "rc=$rc state=$st: $(printf '%s' "$out" | tail -1)"; fi
		m=$(mark)
		out=$(timeout 60 "${P[@]}" unpause "$CID" 2>&1); rc=$?
		show_calls_since "$m"
		st=$("${P[@]}" inspect -f '{{.State.Status}}' "$CID" 2>&1)
		if [ "$rc" = 0 ] && [ "$st" = running ]; then pass "extra: unpause"; else fail "extra: unpause" "rc=$rc state=$st: $(printf '%s' "$out" | tail -1)"; fi
		timeout 60 "${P[@]}" rm -f -t 0 "$CID" >/dev/null 2>&1
	else
		fail "extra: pause" "run -d failed: $(tail -1 "$T/err")"
	fi
fi

summary
