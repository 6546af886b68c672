# Shared helpers for the conformance scripts (sourced, not run).
# shellcheck shell=bash

CONF_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

say() { printf '\n== %s\n' "$*"; }
note() { printf '   %s\n' "$*"; }

# Results bookkeeping: pass NAME / fail NAME DETAIL; summary prints them and
# returns non-zero if anything failed.
CONF_RESULTS=()
CONF_FAILS=0
pass() { CONF_RESULTS+=("PASS  $1"); printf '   -> PASS\n'; }
fail() {
	CONF_RESULTS+=("FAIL  $1${2:+: $2}")
	CONF_FAILS=$((CONF_FAILS + 1))
	printf '   -> FAIL%s\n' "${2:+: $2}"
}
summary() {
	say "summary (runtime: $CONF_RUNTIME)"
	local r
	for r in "${CONF_RESULTS[@]}"; do printf '   %s\n' "$r"; done
	printf '   %d step(s) failed\n' "$CONF_FAILS"
	[ "$CONF_FAILS" = 0 ]
}

need_root() { [ "$(id -u)" = 0 ] || { echo "must run as root" >&2; exit 2; }; }

# ensure_pkg CMD PKG: apt-get install PKG if CMD is missing.
ensure_pkg() {
	command -v "$1" >/dev/null && return 0
	say "installing $2 (apt-get)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y "$2" >/dev/null ||
		{ apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y "$2" >/dev/null; } ||
		{ echo "cannot install $2" >&2; exit 2; }
}

# resolve_runtime ARG WORKDIR: sets CONF_RUNTIME to an absolute path; with
# no ARG, builds minirun from this checkout into WORKDIR.
resolve_runtime() {
	local arg=$1 work=$2
	if [ -z "$arg" ]; then
		say "building minirun from $CONF_REPO"
		(cd "$CONF_REPO" && CGO_ENABLED=0 go build -o "$work/minirun" ./cmd/minirun) ||
			{ echo "build of minirun failed" >&2; exit 2; }
		arg=$work/minirun
	fi
	CONF_RUNTIME=$(command -v "$arg") || { echo "runtime $arg not found" >&2; exit 2; }
	CONF_RUNTIME=$(readlink -f "$CONF_RUNTIME")
}

# make_busybox_rootfs DIR: a minimal rootfs from the host's static busybox.
make_busybox_rootfs() {
	local d=$1 bb a
	bb=$(command -v busybox) || { ensure_pkg busybox busybox-static; bb=$(command -v busybox); }
	if ! file -L "$bb" 2>/dev/null | grep -q 'statically linked'; then
		ldd "$bb" >/dev/null 2>&1 && { echo "$bb is not static; install busybox-static" >&2; exit 2; }
	fi
	mkdir -p "$d"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,run,var}
	chmod 1777 "$d/tmp"
	cp "$bb" "$d/bin/busybox"
	for a in $("$d/bin/busybox" --list); do
		[ "$a" = busybox ] && continue
		[ -e "$d/bin/$a" ] || ln -s busybox "$d/bin/$a"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$d/etc/passwd"
	printf 'root:x:0:\nnobody:x:65534:\n' >"$d/etc/group"
}

# make_trace_wrapper RUNTIME WRAPPER LOG: WRAPPER runs RUNTIME with the same
# arguments and appends "argv -> rc" to LOG. For short verbs (not create,
# run, exec, whose stdio the container inherits) it also copies stderr into
# LOG. The wrapper stays the runtime's parent, so the process tree gains one
# level; callers that are subreapers (conmon, the containerd shim) still
# collect the container's init.
make_trace_wrapper() {
	local rt=$1 w=$2 log=$3
	cat >"$w" <<EOF
#!/bin/bash
rt='$rt'
log='$log'
verb=
for a in "\$@"; do
	case "\$a" in
	create|start|run|exec|kill|delete|state|ps|pause|resume|update|features|list|spec) verb=\$a; break ;;
	esac
done
# --log FILE (containerd's shim): errors go there, not to stderr.
logf=
prev=
for a in "\$@"; do
	[ "\$prev" = --log ] && logf=\$a
	case "\$a" in --log=*) logf=\${a#--log=} ;; esac
	prev=\$a
done
logtail() {
	[ "\$rc" != 0 ] && [ -n "\$logf" ] && [ -s "\$logf" ] && tail -n 2 "\$logf" | sed 's/^/      log: /' >>"\$log"
	return 0
}
case "\$verb" in
create|run|exec|"")
	"\$rt" "\$@"; rc=\$?
	printf '%s %s -> %s\n' "\$(date +%T.%N | cut -c1-12)" "\$*" "\$rc" >>"\$log"
	logtail
	;;
*)
	errf=\$(mktemp)
	"\$rt" "\$@" 2>"\$errf"; rc=\$?
	printf '%s %s -> %s\n' "\$(date +%T.%N | cut -c1-12)" "\$*" "\$rc" >>"\$log"
	if [ -s "\$errf" ]; then sed 's/^/      stderr: /' "\$errf" | head -5 >>"\$log"; cat "\$errf" >&2; fi
	logtail
	rm -f "\$errf"
	;;
esac
exit \$rc
EOF
	chmod 0755 "$w"
}
