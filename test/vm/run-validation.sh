#!/bin/sh
# Runs in the test VM (busybox sh) when run.sh was given MINIRUN_VM_VALIDATION:
# the OCI runtime-tools validation programs (built on the host by
# test/conformance/run-validation.sh --build-only, copied into
# /payload/validation) against /payload/minirun, one at a time, each under a
# timeout. Prints one PASS/FAIL row per program, the failing TAP lines and
# their diagnostics, then "N passed, M failed". Exits 0 only if all passed.
#
# /payload/validation/env sets VALIDATION_PROGS (program names) and
# VALIDATION_TIMEOUT (seconds per program). The full TAP output of every
# program also goes to ttyS3 (last/verbose.log on the host).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
V=/payload/validation
. "$V/env"

full=/dev/ttyS3
[ -c "$full" ] || full=/dev/null

RUNTIME=/payload/minirun
WORK=/tmp/rtt
BUNDLES=$WORK/tmp
RUNDIR=$WORK/run
LOGS=$WORK/logs
mkdir -p "$BUNDLES" "$RUNDIR" "$LOGS" "$WORK/bin"
chmod 0755 "$WORK" "$BUNDLES"
# The programs untar ./rootfs-amd64.tar.gz with a plain `tar -xf`; busybox
# tar needs -z for gzip (no autodetection in Debian's build).
cat >"$WORK/bin/tar" <<'EOF'
#!/bin/sh
for a in "$@"; do
	case $a in *.gz) exec /bin/busybox tar -z "$@" ;; esac
done
exec /bin/busybox tar "$@"
EOF
chmod 0755 "$WORK/bin/tar"
cp "$V/runtimetest" "$V/rootfs-amd64.tar.gz" "$RUNDIR/"

# Cgroups the suite creates (absolute /cgrouptest, relative
# testdir/cgrouptest/container under minirun's parent): removed after each
# program when they did not exist before.
cg_paths_suite() {
	for p in cgrouptest testdir/cgrouptest/container testdir/cgrouptest testdir; do
		echo "/sys/fs/cgroup/$p"
		for d in /sys/fs/cgroup/*/; do
			[ -d "$d$p" ] && echo "${d%/}/$p"
		done
	done
}
# On cgroup v2, delete_only_create_resources makes /sys/fs/cgroup/pids (a v1
# path, here a plain cgroup) and cgrouptest inside it.
cg_paths() {
	cg_paths_suite
	echo /sys/fs/cgroup/pids
}
PREEXIST=$(cg_paths | while read -r p; do [ -e "$p" ] && echo "$p"; done)

cleanup() {
	for id in $("$RUNTIME" list -q 2>/dev/null); do
		st=$(timeout 10 "$RUNTIME" state "$id" 2>/dev/null) || continue
		case $st in *"$BUNDLES"*)
			timeout 10 "$RUNTIME" kill "$id" KILL >/dev/null 2>&1
			timeout 10 "$RUNTIME" delete --force "$id" >/dev/null 2>&1 ||
				echo "cleanup: could not delete container $id"
			;;
		esac
	done
	for pid in /proc/[0-9]*; do
		root=$(readlink "$pid/root" 2>/dev/null) || continue
		case $root in "$BUNDLES"/*)
			echo "cleanup: killing leftover container process ${pid#/proc/}"
			kill -KILL "${pid#/proc/}" 2>/dev/null ;;
		esac
	done
	awk '{print $5}' /proc/self/mountinfo | grep -F "$WORK/" | sort -r | while read -r mp; do
		echo "cleanup: unmounting leftover $mp"
		umount -l "$mp" 2>/dev/null
	done
	cg_paths | sort -r | while read -r p; do
		[ -d "$p" ] || continue
		echo "$PREEXIST" | grep -qxF "$p" && continue
		rmdir "$p" 2>/dev/null || echo "cleanup: cgroup $p still busy"
	done
}

echo "=== OCI runtime-tools validation (${VALIDATION_TIMEOUT}s per program, runtime $RUNTIME)"
npass=0 nfail=0 failed=""
printf '%-36s %-5s %s\n' PROGRAM RESULT "FIRST FAILING TAP LINE / REASON"
for p in $VALIDATION_PROGS; do
	out=$LOGS/$p.tap err=$LOGS/$p.err
	if [ ! -x "$V/$p.t" ]; then
		nfail=$((nfail + 1)) failed="$failed $p"
		printf '%-36s %-5s %s\n' "$p" FAIL "no such program in the payload"
		continue
	fi
	(cd "$RUNDIR" && PATH=$WORK/bin:$PATH TMPDIR=$BUNDLES RUNTIME=$RUNTIME \
		timeout -k 10 "$VALIDATION_TIMEOUT" "$V/$p.t" >"$out" 2>"$err" </dev/null)
	rc=$?
	cleanup >>"$err" 2>&1
	reason="" note=""
	plan=$(grep -m1 -E '^1\.\.[0-9]+' "$out" | sed -E 's/^1\.\.([0-9]+).*/\1/')
	nok=$(grep -cE '^(not )?ok( |$)' "$out")
	firstbad=$(grep -E '^not ok' "$out" | grep -vE '#[[:space:]]*(TODO|todo)' | head -n 1)
	# busybox timeout exits 143 (SIGTERM), or 137 after -k's KILL.
	if [ "$rc" = 124 ] || [ "$rc" = 137 ] || [ "$rc" = 143 ]; then
		reason="TIMEOUT after ${VALIDATION_TIMEOUT}s${firstbad:+; $firstbad}"
	elif [ -n "$firstbad" ]; then
		reason=$firstbad
	elif [ "$rc" != 0 ]; then
		reason="exit $rc: $(grep -v '^[[:space:]]*$' "$err" | head -n 1)"
	elif [ -z "$plan" ] && [ ! -s "$out" ]; then
		note="exit 0, no TAP output (expected error seen)"
	elif [ -z "$plan" ]; then
		reason="no TAP plan: $(grep -v '^[[:space:]]*$' "$err" | head -n 1)"
	elif [ "$plan" != 0 ] && [ "$nok" != "$plan" ]; then
		reason="plan 1..$plan but $nok results"
	fi
	{
		echo "=== validation $p (exit $rc)"
		cat "$out"
		echo "--- stderr"
		cat "$err"
	} >>"$full"
	if [ -z "$reason" ]; then
		npass=$((npass + 1))
		printf '%-36s %-5s %s\n' "$p" PASS "$note"
	else
		nfail=$((nfail + 1)) failed="$failed $p"
		printf '%-36s %-5s %s\n' "$p" FAIL "$(printf '%s' "$reason" | tr -s '\n\t' '  ' | cut -c1-110)"
		# The failing TAP lines with the diagnostics that follow them.
		awk '/^not ok/ && !/# *(TODO|todo)/ { show = 1; n++; if (n > 8) exit; print "    " $0; next }
			/^(ok|not ok)/ { show = 0; next }
			show && /^#/ { print "    " $0 }' "$out"
		grep -v '^[[:space:]]*$' "$err" | head -n 3 | sed 's/^/    stderr: /'
	fi
done
echo "$npass passed, $nfail failed${failed:+ (failed:$failed)}"
[ "$nfail" = 0 ]
