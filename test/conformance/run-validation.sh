#!/usr/bin/env bash
# Run the OCI runtime-tools validation suite against a runtime.
#
# Usage: test/conformance/run-validation.sh [RUNTIME]
#        RTT_CACHE=DIR test/conformance/run-validation.sh --build-only
#          (only fill RTT_CACHE with the suite; no root, no runtime needed:
#          test/vm/run.sh uses it for MINIRUN_VM_VALIDATION)
#   RUNTIME            runtime binary (argument, or $RUNTIME; default: bin/minirun
#                      built from this checkout into a temp dir)
# Environment:
#   RTT_CACHE          directory holding the built suite (runtimetest, *.t,
#                      rootfs-amd64.tar.gz). Reused when it is complete, filled
#                      when it is empty or missing. Default: a temp dir removed
#                      at exit.
#   RTT_VERSION        runtime-tools module version (pseudo-version pinned below)
#   RTT_TIMEOUT        per-program timeout in seconds (default 90)
#   RTT_ONLY           space-separated program names to run (default: all)
#   RTT_LOGDIR         if set, each program's stdout/stderr is kept there
#
# Output: one row per program (PASS/FAIL and the first failing TAP line or
# the reason), then "N passed, M failed". Exit status 0 only if all passed.
#
# Programs are run one at a time (killsig races under load). Every container
# whose bundle lies under this script's temp dir is force-deleted after each
# program; cgroups the suite creates (/cgrouptest, testdir/cgrouptest/...)
# are removed if they did not exist before the run.
set -u -o pipefail

RTT_MODULE=github.com/opencontainers/runtime-tools
RTT_VERSION=${RTT_VERSION:-v0.9.1-0.20251205004911-5e639034dcdc}
RTT_TIMEOUT=${RTT_TIMEOUT:-90}
RTT_ONLY=${RTT_ONLY:-}
REPO=$(cd "$(dirname "$0")/../.." && pwd)

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'run-validation: %s\n' "$*" >&2; exit 2; }

BUILD_ONLY=0
if [ "${1:-}" = --build-only ]; then
	BUILD_ONLY=1
	[ -n "${RTT_CACHE:-}" ] || die "--build-only needs RTT_CACHE"
	set --
fi
[ "$BUILD_ONLY" = 1 ] || [ "$(id -u)" = 0 ] || die "must run as root"
for t in go tar timeout; do command -v "$t" >/dev/null || die "missing $t"; done

WORK=$(mktemp -d /tmp/rtt-run.XXXXXX) || die "mktemp failed"
BUNDLES=$WORK/tmp
mkdir -p "$BUNDLES" "$WORK/logs"
# Bundles must be reachable by unprivileged host uids: the user-namespace
# tests (linux_uid_mappings, linux_ns_nopath) map container root to uid 1000.
chmod 0755 "$WORK" "$BUNDLES"

# ---- cgroup bookkeeping: only remove suite paths that we saw appear -------
CG_SUITE_PATHS=()
for c in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
	for p in cgrouptest testdir/cgrouptest/container testdir/cgrouptest testdir; do
		CG_SUITE_PATHS+=("${c%/}/$p")
	done
done
CG_PREEXIST=()
for p in "${CG_SUITE_PATHS[@]}"; do [ -e "$p" ] && CG_PREEXIST+=("$p"); done

preexisting() { local x; for x in "${CG_PREEXIST[@]}"; do [ "$x" = "$1" ] && return 0; done; return 1; }

RUNTIME_BIN=
cleanup_containers() {
	# Force-delete containers whose bundle is under $BUNDLES.
	[ -n "$RUNTIME_BIN" ] || return 0
	local ids id st
	ids=$("$RUNTIME_BIN" list -q 2>/dev/null) || ids=
	for id in $ids; do
		st=$(timeout 10 "$RUNTIME_BIN" state "$id" 2>/dev/null) || continue
		case "$st" in
		*"\"bundle\": \"$BUNDLES"* | *"\"bundle\":\"$BUNDLES"*)
			timeout 10 "$RUNTIME_BIN" kill "$id" KILL >/dev/null 2>&1
			timeout 10 "$RUNTIME_BIN" delete --force "$id" >/dev/null 2>&1 ||
				echo "cleanup: could not delete container $id" >&2
			;;
		esac
	done
	# Backstop: processes whose root is inside our bundles (container inits
	# the runtime failed to reap or kill).
	local pid root
	for pid in /proc/[0-9]*; do
		root=$(readlink "$pid/root" 2>/dev/null) || continue
		case "$root" in "$BUNDLES"/*)
			echo "cleanup: killing leftover container process ${pid#/proc/} (root $root)" >&2
			kill -KILL "${pid#/proc/}" 2>/dev/null ;;
		esac
	done
	# Mounts left on the host under our temp dir.
	local mp
	awk '{print $5}' /proc/self/mountinfo | grep -F "$WORK/" | sort -r | while read -r mp; do
		echo "cleanup: unmounting leftover $mp" >&2
		umount -l "$mp" 2>/dev/null
	done
	# Cgroups created by the suite.
	local p
	for p in "${CG_SUITE_PATHS[@]}"; do
		[ -d "$p" ] || continue
		preexisting "$p" && continue
		rmdir "$p" 2>/dev/null || echo "cleanup: cgroup $p still busy" >&2
	done
}

CACHE_IS_TEMP=0
final_cleanup() {
	cleanup_containers
	if awk '{print $5}' /proc/self/mountinfo | grep -qF "$WORK/"; then
		echo "cleanup: mounts remain under $WORK, not removing it" >&2
	else
		rm -rf "$WORK"
	fi
	[ "$CACHE_IS_TEMP" = 1 ] && rm -rf "$RTT_CACHE"
}
trap final_cleanup EXIT
trap 'exit 130' INT TERM

# ---- runtime -------------------------------------------------------------
RUNTIME_ARG=${1:-${RUNTIME:-}}
if [ "$BUILD_ONLY" = 1 ]; then
	: # no runtime: only the suite is built
elif [ -z "$RUNTIME_ARG" ]; then
	log "building minirun from $REPO"
	(cd "$REPO" && CGO_ENABLED=0 go build -o "$WORK/minirun" ./cmd/minirun) || die "build of minirun failed"
	RUNTIME_ARG=$WORK/minirun
fi
if [ "$BUILD_ONLY" = 0 ]; then
	RUNTIME_BIN=$(command -v "$RUNTIME_ARG") || die "runtime $RUNTIME_ARG not found"
	RUNTIME_BIN=$(readlink -f "$RUNTIME_BIN")
	log "runtime: $RUNTIME_BIN ($("$RUNTIME_BIN" --version 2>/dev/null | head -1))"
fi

# ---- build (or reuse) the suite -----------------------------------------
if [ -z "${RTT_CACHE:-}" ]; then
	RTT_CACHE=$(mktemp -d /tmp/rtt-cache.XXXXXX)
	CACHE_IS_TEMP=1
fi
mkdir -p "$RTT_CACHE"
complete_cache() {
	[ -x "$RTT_CACHE/runtimetest" ] && [ -f "$RTT_CACHE/rootfs-amd64.tar.gz" ] &&
		[ "$(ls "$RTT_CACHE"/*.t 2>/dev/null | wc -l)" -ge 58 ]
}
if complete_cache; then
	log "reusing suite in $RTT_CACHE"
else
	log "building runtime-tools $RTT_VERSION into $RTT_CACHE"
	GP=$WORK/gopath
	export GOPATH=$GP GOMODCACHE=$GP/pkg/mod GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0
	# Outside any module, so no go.mod/go.sum is touched.
	dir=$(cd "$WORK" && go mod download -json "$RTT_MODULE@$RTT_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -d "$dir" ] || die "go mod download of $RTT_MODULE@$RTT_VERSION failed"
	cp -r "$dir" "$WORK/src" && chmod -R u+w "$WORK/src"
	# The module zip keeps vendor/modules.txt but not the vendored code.
	rm -rf "$WORK/src/vendor"
	(cd "$WORK/src" && go build -o "$RTT_CACHE/runtimetest" ./cmd/runtimetest) || die "build of runtimetest failed"
	for d in "$WORK"/src/validation/*/; do
		n=$(basename "$d")
		[ "$n" = util ] && continue
		(cd "$WORK/src" && go build -o "$RTT_CACHE/$n.t" "./validation/$n") || die "build of validation/$n failed"
	done
	cp "$WORK/src/rootfs-amd64.tar.gz" "$RTT_CACHE/"
	chmod -R u+w "$GP" 2>/dev/null; rm -rf "$GP" "$WORK/src"
	unset GOPATH GOMODCACHE GOFLAGS GOWORK
fi

if [ "$BUILD_ONLY" = 1 ]; then
	complete_cache || die "the suite in $RTT_CACHE is incomplete"
	log "suite ready in $RTT_CACHE"
	exit 0
fi

# The programs untar rootfs-$GOARCH.tar.gz and copy ./runtimetest from the
# current directory into each bundle; bundles go to $TMPDIR.
RUNDIR=$WORK/run
mkdir -p "$RUNDIR"
cp "$RTT_CACHE/runtimetest" "$RTT_CACHE/rootfs-amd64.tar.gz" "$RUNDIR/"

# ---- run -----------------------------------------------------------------
if [ -n "$RTT_ONLY" ]; then
	PROGS=$RTT_ONLY
else
	PROGS=$(cd "$RTT_CACHE" && ls *.t | sed 's/\.t$//')
fi

npass=0 nfail=0
FAILED=()
printf '%-36s %-5s %s\n' PROGRAM RESULT "FIRST FAILING TAP LINE / REASON"
for p in $PROGS; do
	out=$WORK/logs/$p.tap err=$WORK/logs/$p.err
	[ -x "$RTT_CACHE/$p.t" ] || { echo "no such program $p" >&2; continue; }
	(cd "$RUNDIR" && TMPDIR=$BUNDLES RUNTIME=$RUNTIME_BIN \
		timeout -k 10 "$RTT_TIMEOUT" "$RTT_CACHE/$p.t" >"$out" 2>"$err" </dev/null)
	rc=$?
	cleanup_containers 2>>"$err"
	reason= note=
	plan=$(grep -m1 -E '^1\.\.[0-9]+' "$out" | sed -E 's/^1\.\.([0-9]+).*/\1/')
	nok=$(grep -cE '^(not )?ok( |$)' "$out")
	firstbad=$(grep -E '^not ok' "$out" | grep -vE '#[[:space:]]*(TODO|todo)' | head -1)
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		reason="TIMEOUT after ${RTT_TIMEOUT}s${firstbad:+; $firstbad}"
	elif [ -n "$firstbad" ]; then
		reason=$firstbad
	elif [ "$rc" != 0 ]; then
		reason="exit $rc: $(grep -v '^[[:space:]]*$' "$err" | head -1)"
	elif [ -z "$plan" ] && [ ! -s "$out" ]; then
		# The *_fail programs (e.g. process_rlimits_fail) print nothing and
		# exit 0 when the runtime correctly refuses the config.
		note="exit 0, no TAP output (expected error seen)"
	elif [ -z "$plan" ]; then
		reason="no TAP plan: $(grep -v '^[[:space:]]*$' "$err" | head -1)"
	elif [ "$plan" != 0 ] && [ "$nok" != "$plan" ]; then
		reason="plan 1..$plan but $nok results"
	fi
	if [ -z "$reason" ]; then
		npass=$((npass + 1))
		printf '%-36s %-5s %s\n' "$p" PASS "$note"
	else
		nfail=$((nfail + 1))
		FAILED+=("$p")
		printf '%-36s %-5s %s\n' "$p" FAIL "$(printf '%s' "$reason" | tr -s '\n\t' '  ' | cut -c1-110)"
	fi
done
if [ -n "${RTT_LOGDIR:-}" ]; then
	mkdir -p "$RTT_LOGDIR" && cp "$WORK"/logs/* "$RTT_LOGDIR"/ && log "logs kept in $RTT_LOGDIR"
fi
echo "$npass passed, $nfail failed"
[ "$nfail" = 0 ]
