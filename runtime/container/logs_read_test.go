package container

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// rotatedLog writes lines 1..n, alternating stdout (odd) and stderr
// (even), a second apart, two records to a file.
func rotatedLog(t *testing.T, n int) string {
	t.Helper()
	l, path := newTestLog(t, LogOptions{MaxSize: 2 * recordSize, MaxFiles: 100}, time.Second)
	for i := 1; i <= n; i++ {
		stream := "stdout"
		if i%2 == 0 {
			stream = "stderr"
		}
		copyLines(t, l, stream, fmt.Sprintf("line %d\n", i))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func linesFrom(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.String()
}

func TestReadLog(t *testing.T) {
	path := rotatedLog(t, 9) // log.json.4 holds 1 2 … log.json holds 9
	if _, err := os.Stat(path + ".4"); err != nil {
		t.Fatalf("want 5 files: %v", err)
	}
	at := func(line int) time.Time { return logT0.Add(time.Duration(line-1) * time.Second) }
	for _, tc := range []struct {
		name string
		o    ReadOptions
		want string
	}{
		{"all", ReadOptions{Tail: -1}, linesFrom(1, 9)},
		{"tail 0", ReadOptions{Tail: 0}, ""},
		{"tail 1", ReadOptions{Tail: 1}, linesFrom(9, 9)},
		{"tail 2", ReadOptions{Tail: 2}, linesFrom(8, 9)},
		{"tail 3", ReadOptions{Tail: 3}, linesFrom(7, 9)},
		{"tail 4", ReadOptions{Tail: 4}, linesFrom(6, 9)},
		{"tail 8", ReadOptions{Tail: 8}, linesFrom(2, 9)},
		{"tail 9", ReadOptions{Tail: 9}, linesFrom(1, 9)},
		{"tail 100", ReadOptions{Tail: 100}, linesFrom(1, 9)},
		{"since", ReadOptions{Tail: -1, Since: at(4)}, linesFrom(4, 9)},
		{"since between", ReadOptions{Tail: -1, Since: at(4).Add(-time.Millisecond)}, linesFrom(4, 9)},
		{"since after all", ReadOptions{Tail: -1, Since: at(10)}, ""},
		{"tail then since", ReadOptions{Tail: 3, Since: at(4)}, linesFrom(7, 9)},
		{"since then tail", ReadOptions{Tail: 7, Since: at(4)}, linesFrom(4, 9)},
		{"timestamps", ReadOptions{Tail: 2, Timestamps: true},
			"2026-01-02T15:04:12.123456789Z line 8\n2026-01-02T15:04:13.123456789Z line 9\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := ReadLog(context.Background(), path, tc.o, &out, &out); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", out.String(), tc.want)
			}
		})
	}
}

func TestReadLogStreams(t *testing.T) {
	path := rotatedLog(t, 5)
	var stdout, stderr bytes.Buffer
	if err := ReadLog(context.Background(), path, ReadOptions{Tail: -1}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if want := "line 1\nline 3\nline 5\n"; stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
	if want := "line 2\nline 4\n"; stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
}

func TestReadLogTimestamps(t *testing.T) {
	l, path := newTestLog(t, LogOptions{}, 0)
	l.now = func() time.Time { return time.Date(2026, 1, 2, 15, 4, 5, 100000000, time.UTC) }
	long := strings.Repeat("x", 20000)
	copyLines(t, l, "stdout", "short\n", "stderr", long+"\n", "stdout", "no newline")
	l.Close()
	var stdout, stderr bytes.Buffer
	if err := ReadLog(context.Background(), path, ReadOptions{Tail: -1, Timestamps: true}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	// Fixed width, and one stamp for a line cut into records.
	const ts = "2026-01-02T15:04:05.100000000Z "
	if want := ts + "short\n" + ts + "no newline"; stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
	if want := ts + long + "\n"; stderr.String() != want {
		t.Errorf("stderr is %d bytes, want %d, one timestamp", stderr.Len(), len(want))
	}
}

func TestReadLogMissing(t *testing.T) {
	err := ReadLog(context.Background(), filepath.Join(t.TempDir(), "log.json"), ReadOptions{Tail: -1}, io.Discard, io.Discard)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadLog of no log: %v, want fs.ErrNotExist", err)
	}
}

// TestReadLogDamaged: a line that is not a record (a file cut short by a
// crash, then appended to) is skipped, and so is a record still being
// written at the end.
func TestReadLogDamaged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.json")
	content := record("line 1") + `{"log":"cut sh` + "\n" + record("line 2") + `{"log":"being written`
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	// --tail counts lines, damaged ones too.
	for _, tail := range []int{-1, 3} {
		var out bytes.Buffer
		if err := ReadLog(context.Background(), path, ReadOptions{Tail: tail}, &out, &out); err != nil {
			t.Fatal(err)
		}
		if want := "line 1\nline 2\n"; out.String() != want {
			t.Errorf("tail %d: %q, want %q", tail, out.String(), want)
		}
	}
}

// syncBuffer is a bytes.Buffer for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls until cond holds, failing after a while.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startFollow runs ReadLog with Follow, returning its output, the channel
// to close as the container's exit and ReadLog's result.
func startFollow(ctx context.Context, path string, o ReadOptions) (*syncBuffer, chan struct{}, <-chan error) {
	out := &syncBuffer{}
	done := make(chan struct{})
	o.Follow, o.Done = true, done
	errc := make(chan error, 1)
	go func() { errc <- ReadLog(ctx, path, o, out, out) }()
	return out, done, errc
}

func waitErr(t *testing.T, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("ReadLog did not return")
		return nil
	}
}

func TestReadLogFollow(t *testing.T) {
	l, path := newTestLog(t, LogOptions{MaxSize: 3 * recordSize, MaxFiles: 3}, 0)
	copyLines(t, l, "stdout", "line 1\n", "stdout", "line 2\n")

	out, done, errc := startFollow(context.Background(), path, ReadOptions{Tail: 1})
	waitFor(t, "the tail", func() bool { return out.String() == "line 2\n" })

	copyLines(t, l, "stdout", "line 3\n")
	waitFor(t, "a line written while following", func() bool { return out.String() == linesFrom(2, 3) })

	copyLines(t, l, "stdout", "line 4\n") // rotates
	if _, err := os.Stat(path + ".1"); err != nil {
		t.Fatalf("no rotation: %v", err)
	}
	waitFor(t, "a line after a rotation", func() bool { return out.String() == linesFrom(2, 4) })

	// Written, then the container exits at once: what is there is printed.
	copyLines(t, l, "stdout", "line 5\nline 6\nline 7\n", "stdout", "line 8\n")
	l.Close()
	close(done)
	if err := waitErr(t, errc); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), linesFrom(2, 8); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// TestReadLogFollowRotations: many rotations between two polls lose and
// repeat nothing, as long as the files are still there.
func TestReadLogFollowRotations(t *testing.T) {
	l, path := newTestLog(t, LogOptions{MaxSize: 2 * recordSize, MaxFiles: 1000}, 0)
	out, done, errc := startFollow(context.Background(), path, ReadOptions{Tail: -1})
	const n = 600
	for i := 1; i <= n; i++ {
		copyLines(t, l, "stdout", fmt.Sprintf("line %d\n", i))
		if i%50 == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	l.Close()
	close(done)
	if err := waitErr(t, errc); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), linesFrom(1, n); got != want {
		t.Errorf("followed %d bytes, want %d:\n%s", len(got), len(want), got)
	}
}

// TestReadLogFollowDropped: when the writer drops files faster than the
// follower reads, lines are lost, but the follower goes on in order,
// repeats nothing and ends with the last line.
func TestReadLogFollowDropped(t *testing.T) {
	l, path := newTestLog(t, LogOptions{MaxSize: 2 * recordSize, MaxFiles: 2}, 0)
	out, done, errc := startFollow(context.Background(), path, ReadOptions{Tail: -1})
	const n = 400
	for i := 1; i <= n; i++ {
		copyLines(t, l, "stdout", fmt.Sprintf("line %d\n", i))
		if i%100 == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	l.Close()
	close(done)
	if err := waitErr(t, errc); err != nil {
		t.Fatal(err)
	}
	last := 0
	for line := range strings.Lines(out.String()) {
		var i int
		if _, err := fmt.Sscanf(line, "line %d\n", &i); err != nil || i <= last {
			t.Fatalf("line %q after line %d", line, last)
		}
		last = i
	}
	if last != n {
		t.Errorf("last line %d, want %d", last, n)
	}
}

func TestReadLogFollowContext(t *testing.T) {
	l, path := newTestLog(t, LogOptions{}, 0)
	copyLines(t, l, "stdout", "line 1\n")
	ctx, cancel := context.WithCancel(context.Background())
	out, _, errc := startFollow(ctx, path, ReadOptions{Tail: -1})
	waitFor(t, "the log", func() bool { return out.String() == "line 1\n" })
	cancel()
	if err := waitErr(t, errc); err != nil {
		t.Errorf("ReadLog ended by its context: %v, want nil", err)
	}
}

// TestReadLogFollowNoLogYet: a follower may start before the log exists.
func TestReadLogFollowNoLogYet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.json")
	out, done, errc := startFollow(context.Background(), path, ReadOptions{Tail: 0})
	time.Sleep(2 * followPoll)
	l, err := NewLog(path, LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	copyLines(t, l, "stdout", "line 1\n")
	waitFor(t, "the new log", func() bool { return out.String() == "line 1\n" })
	l.Close()
	close(done)
	if err := waitErr(t, errc); err != nil {
		t.Fatal(err)
	}

	// And a container that exits without ever making one ends it.
	_, done, errc = startFollow(context.Background(), filepath.Join(t.TempDir(), "log.json"), ReadOptions{Tail: -1})
	close(done)
	if err := waitErr(t, errc); err != nil {
		t.Fatal(err)
	}
}

// TestReadLogFollowIdle: following an idle log polls, it does not spin.
func TestReadLogFollowIdle(t *testing.T) {
	_, path := newTestLog(t, LogOptions{}, 0)
	_, done, errc := startFollow(context.Background(), path, ReadOptions{Tail: -1})
	start := time.Now()
	var before, after goruntime.MemStats
	goruntime.ReadMemStats(&before)
	time.Sleep(10 * followPoll)
	goruntime.ReadMemStats(&after)
	close(done)
	if err := waitErr(t, errc); err != nil {
		t.Fatal(err)
	}
	// A poll allocates a timer and the stat results; a spin would
	// allocate without end.
	polls := uint64(time.Since(start)/followPoll) + 1
	if mallocs := after.Mallocs - before.Mallocs; mallocs > polls*100 {
		t.Errorf("%d allocations in %d polls", mallocs, polls)
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		err  bool
	}{
		{in: "", want: time.Time{}},
		{in: "10m", want: now.Add(-10 * time.Minute)},
		{in: "1h30m", want: now.Add(-90 * time.Minute)},
		{in: "1.5s", want: now.Add(-1500 * time.Millisecond)},
		{in: "0", want: time.Unix(0, 0)},
		{in: "1767366245", want: time.Unix(1767366245, 0)},
		{in: "1767366245.5", want: time.Unix(1767366245, 500000000)},
		{in: "1767366245.000000001", want: time.Unix(1767366245, 1)},
		{in: "2026-01-02T15:04:05Z", want: now},
		{in: "2026-01-02T16:04:05.25+01:00", want: now.Add(250 * time.Millisecond)},
		{in: "yesterday", err: true},
		{in: "10", want: time.Unix(10, 0)},
		{in: "12.", err: true},
		{in: ".5", err: true},
		{in: "1.2.3", err: true},
		{in: "1767366245.1234567891", err: true},
		{in: "2026-01-02", err: true},
		{in: "2026-01-02 15:04:05", err: true},
	} {
		got, err := ParseSince(tc.in, now)
		if tc.err {
			if err == nil {
				t.Errorf("ParseSince(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("ParseSince(%q) = %v, %v, want %v", tc.in, got, err, tc.want)
		}
	}
}
