#!/bin/sh
# Runs in the test VM (busybox sh), from the payload test/vm/run.sh appends
# to the initramfs: every package's test binary, in its package directory
# (a copy with its testdata, on tmpfs) as `go test` would, as root with
# skipping forbidden. stdout is the test output port (ttyS1); the full
# -test.v log also goes to ttyS3. Exits 0 when every package passed.
#
# /payload/packages has one "IMPORTPATH DIR BINARY" line per package;
# /payload/env sets MINIRUN_VM_RUN (-test.run), MINIRUN_VM_TESTFLAGS (more
# flags for every binary), MINIRUN_VM_VERBOSE and MINIRUN_VM_PKG_TIMEOUT
# (-test.timeout). With MINIRUN_VM_VALIDATION, /payload/validation/run.sh
# (test/vm/run-validation.sh) runs the OCI runtime-tools programs afterwards.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
. /payload/env

export MINIRUN_REQUIRE_ROOT=1
export MINIRUN_TEST_RUNTIME=/payload/minirun
export MINIRUN_TEST_PROBE=/payload/probe
export HOME=/root TMPDIR=/tmp

full=/dev/ttyS3
[ -c "$full" ] || full=/dev/null

# The compact view (compact.awk) is about what plain `go test` shows.
compact() {
	if [ "${MINIRUN_VM_VERBOSE:-0}" = 1 ]; then
		cat
	else
		awk -f /payload/compact.awk
	fi
}

now() { cut -d' ' -f1 /proc/uptime; }

rc=0
summary=""
while read -r pkg dir bin; do
	[ -n "$pkg" ] || continue
	cd "/payload/src/$dir" || { rc=1; continue; }
	log=/tmp/test-$bin.log
	start=$(now)
	echo "=== package $pkg"
	set -- -test.v -test.count=1 -test.timeout="${MINIRUN_VM_PKG_TIMEOUT:-900s}"
	[ -n "${MINIRUN_VM_RUN:-}" ] && set -- "$@" -test.run "$MINIRUN_VM_RUN"
	# shellcheck disable=SC2086 # words on purpose
	set -- "$@" ${MINIRUN_VM_TESTFLAGS:-}
	{
		"./$bin" "$@" 2>&1
		echo $? >"/tmp/rc.$bin"
	} | tee "$log" | tee -a "$full" | compact
	code=$(cat "/tmp/rc.$bin")
	secs=$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
	pass=$(grep -c -E '^ *--- PASS: ' "$log")
	skip=$(grep -c -E '^ *--- SKIP: ' "$log")
	fails=$(grep -c -E '^ *--- FAIL: ' "$log")
	counts="$pass passed, $skip skipped, $fails failed (subtests included)"
	if [ "$code" = 0 ]; then
		line=$(printf 'ok   %-45s %6ss  %s' "$pkg" "$secs" "$counts")
	else
		line=$(printf 'FAIL %-45s %6ss  %s, exit %s' "$pkg" "$secs" "$counts" "$code")
		rc=1
	fi
	echo "$line"
	summary="$summary$line
"
done </payload/packages

# MINIRUN_VM_VALIDATION: the OCI runtime-tools programs (run-validation.sh).
if [ -x /payload/validation/run.sh ]; then
	start=$(now)
	{
		/payload/validation/run.sh 2>&1
		echo $? >/tmp/rc.validation
	} | tee /tmp/validation.out
	vrc=$(cat /tmp/rc.validation)
	secs=$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
	counts=$(tail -n 1 /tmp/validation.out)
	if [ "$vrc" = 0 ]; then
		line=$(printf 'ok   %-45s %6ss  %s' "runtime-tools validation" "$secs" "$counts")
	else
		line=$(printf 'FAIL %-45s %6ss  %s' "runtime-tools validation" "$secs" "$counts")
		rc=1
	fi
	summary="$summary$line
"
fi

echo "=== summary (pure cgroup v2, kernel $(uname -r))"
printf '%s' "$summary"
exit $rc
