# Filters `TEST.test -test.v` output down to about what plain `go test`
# shows (busybox awk, in the test VM): a top-level test that passed is
# dropped, except for its skipped subtests with their reasons; one that
# failed, skipped or never finished (a panic, a timeout) is shown with all
# its output. Lines outside any test (TestMain's) pass through, the bare
# final "PASS" excepted. A test's output is held back until it has ended, so
# it streams test by test.
#
# -test.v marks whose output follows with "=== RUN/CONT/NAME name"; the
# "--- PASS/FAIL/SKIP: name (time)" lines of subtests follow their parent's.

function top(name) { sub(/\/.*/, "", name); return name }

function result_name(line,    m) {
	m = line
	sub(/^ *--- [A-Z]+: /, "", m)
	sub(/ \([0-9.]+s\)$/, "", m)
	return m
}

function flush(t,    i, n, st, keep, line) {
	if (!(t in nlines)) return
	n = nlines[t]
	st = status[t]
	for (i = 1; i <= n; i++) {
		line = lines[t, i]
		if (line ~ /^ *=== (RUN|PAUSE|CONT|NAME) /) {
			keep = 0
		} else if (st != "PASS") {
			keep = line !~ /^ *--- PASS: /
		} else { # passed: only its skipped subtests
			keep = owner[t, i] != t && status[owner[t, i]] == "SKIP"
		}
		if (keep) print line
		delete lines[t, i]
		delete owner[t, i]
	}
	delete nlines[t]
	delete done[t]
}

function flush_done(except,    o) {
	for (o in done) if (o != except) flush(o)
}

{ line = $0 }

line ~ /^ *=== (RUN|PAUSE|CONT|NAME) / {
	cur = line
	sub(/^ *=== [A-Z]+ +/, "", cur)
	curtop = top(cur)
	# A top-level RUN ends every finished test, an earlier run of the same
	# one (-test.count) included.
	flush_done(line ~ /^=== RUN / ? "" : curtop)
}

line ~ /^ *--- (PASS|FAIL|SKIP): / {
	cur = result_name(line)
	status[cur] = substr(line, index(line, "---") + 4, 4)
	curtop = top(cur)
	if (cur == curtop) done[cur] = 1
}

# After a top-level test ended, an unindented line is no test's: TestMain's
# output, the binary's final PASS/FAIL.
curtop != "" && (curtop in done) && line !~ /^[ \t]/ && line !~ /^(---|===) / {
	flush_done("")
	curtop = ""
}

curtop == "" {
	if (line != "PASS") print line
	next
}

{
	n = ++nlines[curtop]
	lines[curtop, n] = line
	owner[curtop, n] = cur
	if (!(curtop in seen)) { seen[curtop] = 1; order[++norder] = curtop }
}

END {
	for (i = 1; i <= norder; i++) flush(order[i])
}
