package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"
)

var logT0 = time.Date(2026, 1, 2, 15, 4, 5, 123456789, time.UTC)

// newTestLog opens a log in a temp dir whose clock starts at logT0 and
// moves step further at each record.
func newTestLog(t *testing.T, o LogOptions, step time.Duration) (*Log, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "log.json")
	l, err := NewLog(path, o)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	next := logT0
	l.now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now := next
		next = next.Add(step)
		return now
	}
	t.Cleanup(func() { l.Close() })
	return l, path
}

// copyLines writes each of lines as its own Copy, in order, so that the
// streams interleave as the test says.
func copyLines(t *testing.T, l *Log, streamLines ...string) {
	t.Helper()
	for i := 0; i < len(streamLines); i += 2 {
		if err := l.Copy(streamLines[i], strings.NewReader(streamLines[i+1])); err != nil {
			t.Fatal(err)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readRecords(t *testing.T, path string) []logRecord {
	t.Helper()
	var recs []logRecord
	for line := range strings.Lines(readFile(t, path)) {
		var r logRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("record %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

func TestLogRecordFormat(t *testing.T) {
	l, path := newTestLog(t, LogOptions{}, 0)
	copyLines(t, l,
		"stdout", "hello\n",
		"stderr", "quote\" back\\slash\ttab <b>&amp; \x01\x7f\r\n",
		"stdout", "caf\xc3\xa9 \xff \u2028\n",
	)
	l.now = func() time.Time { return time.Date(2026, 1, 2, 15, 4, 5, 100000000, time.FixedZone("CET", 3600)) }
	copyLines(t, l, "stdout", "trimmed\n")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	want := `{"log":"hello\n","stream":"stdout","time":"2026-01-02T15:04:05.123456789Z"}
{"log":"quote\" back\\slash\u0009tab \u003cb\u003e\u0026amp; \u0001` + "\x7f" + `\r\n","stream":"stderr","time":"2026-01-02T15:04:05.123456789Z"}
{"log":"café \ufffd \u2028\n","stream":"stdout","time":"2026-01-02T15:04:05.123456789Z"}
{"log":"trimmed\n","stream":"stdout","time":"2026-01-02T14:04:05.1Z"}
`
	if got := readFile(t, path); got != want {
		t.Errorf("log file:\n%s\nwant:\n%s", got, want)
	}
}

// TestLogEscapingDecodes checks the hand-written escaping against
// encoding/json's decoder: every valid UTF-8 string comes back as it went.
func TestLogEscapingDecodes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("aZ09 \"\\/<>&\n\r\t\b\f\x00\x1f\x7fé€😀\u2028\u2029\ufffd")
	for range 2000 {
		var sb strings.Builder
		for range r.IntN(40) {
			sb.WriteRune(alphabet[r.IntN(len(alphabet))])
		}
		s := sb.String()
		var got string
		if err := json.Unmarshal(appendJSONString(nil, []byte(s)), &got); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if got != s {
			t.Fatalf("%q came back as %q", s, got)
		}
	}
}

// TestLogCopyConcurrent copies two streams at once, each written in
// chunks that cut lines anywhere: every record must be one whole line,
// and each stream's lines must keep their order.
func TestLogCopyConcurrent(t *testing.T) {
	l, path := newTestLog(t, LogOptions{}, 0)
	const lines = 5000
	streams := []string{"stdout", "stderr"}
	var wg sync.WaitGroup
	for s, stream := range streams {
		pr, pw := io.Pipe()
		wg.Go(func() {
			if err := l.Copy(stream, pr); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			var all []byte
			for i := range lines {
				all = fmt.Appendf(all, "%s line %05d %s\n", stream, i, strings.Repeat("x", i%97))
			}
			r := rand.New(rand.NewPCG(uint64(s), 7))
			for len(all) > 0 {
				n := min(1+r.IntN(300), len(all))
				pw.Write(all[:n])
				all = all[n:]
			}
			pw.Close()
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	next := map[string]int{}
	for _, rec := range readRecords(t, path) {
		want := fmt.Sprintf("%s line %05d %s\n", rec.Stream, next[rec.Stream], strings.Repeat("x", next[rec.Stream]%97))
		if rec.Log != want {
			t.Fatalf("record %q, want %q", rec.Log, want)
		}
		next[rec.Stream]++
	}
	for _, stream := range streams {
		if next[stream] != lines {
			t.Errorf("%s: %d lines, want %d", stream, next[stream], lines)
		}
	}
}

func TestLogCopyLongLine(t *testing.T) {
	x := func(n int) string { return strings.Repeat("x", n) }
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"exactly 16K with newline", x(16*1024-1) + "\n", []string{x(16*1024-1) + "\n"}},
		{"16K then newline", x(16*1024) + "\n", []string{x(16 * 1024), "\n"}},
		{"40000 bytes", x(40000) + "\n", []string{x(16 * 1024), x(16 * 1024), x(40000-32*1024) + "\n"}},
		{"character across the cut", x(16*1024-1) + "é\n", []string{x(16*1024 - 1), "é\n"}},
		{"4-byte character across the cut", x(16*1024-2) + "😀!\n", []string{x(16*1024 - 2), "😀!\n"}},
		{"long line between short ones", "a\n" + x(20000) + "\nb\n", []string{"a\n", x(16 * 1024), x(20000-16*1024) + "\n", "b\n"}},
	} {
		for _, reader := range []struct {
			name string
			wrap func(io.Reader) io.Reader
		}{{"whole", func(r io.Reader) io.Reader { return r }}, {"bytewise", iotest.OneByteReader}} {
			t.Run(tc.name+"/"+reader.name, func(t *testing.T) {
				l, path := newTestLog(t, LogOptions{}, 0)
				if err := l.Copy("stdout", reader.wrap(strings.NewReader(tc.in))); err != nil {
					t.Fatal(err)
				}
				l.Close()
				var got []string
				for _, r := range readRecords(t, path) {
					got = append(got, r.Log)
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("records %s, want %s", summarize(got), summarize(tc.want))
				}
			})
		}
	}
}

// summarize shows records by length and ends.
func summarize(recs []string) string {
	var b strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&b, "[%d %q…%q] ", len(r), r[:min(len(r), 3)], r[max(len(r)-3, 0):])
	}
	return b.String()
}

// endless yields n bytes of 'x' and no newline.
type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) {
	if e.n == 0 {
		return 0, io.EOF
	}
	n := min(len(p), e.n)
	for i := range p[:n] {
		p[i] = 'x'
	}
	e.n -= n
	return n, nil
}

// TestLogCopyMemory: a line that never ends is cut, never gathered.
func TestLogCopyMemory(t *testing.T) {
	l, path := newTestLog(t, LogOptions{}, 0)
	const size = 16 << 20
	var before, after goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&before)
	if err := l.Copy("stdout", &endless{size}); err != nil {
		t.Fatal(err)
	}
	goruntime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("copying a %d-byte line allocated %d bytes", size, alloc)
	}
	l.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if recs := int64(size / (16 * 1024)); fi.Size() < size || fi.Size() > size+recs*100 {
		t.Errorf("log is %d bytes for %d records of 16 KiB", fi.Size(), recs)
	}
}

func TestLogCopyPartialLastLine(t *testing.T) {
	l, path := newTestLog(t, LogOptions{}, 0)
	copyLines(t, l, "stdout", "a\nb", "stdout", "", "stderr", "no newline")
	l.Close()
	want := `{"log":"a\n","stream":"stdout","time":"2026-01-02T15:04:05.123456789Z"}
{"log":"b","stream":"stdout","time":"2026-01-02T15:04:05.123456789Z"}
{"log":"no newline","stream":"stderr","time":"2026-01-02T15:04:05.123456789Z"}
`
	if got := readFile(t, path); got != want {
		t.Errorf("log file:\n%s\nwant:\n%s", got, want)
	}
}

func TestLogCopyAfterClose(t *testing.T) {
	l, _ := newTestLog(t, LogOptions{}, 0)
	l.Close()
	// The pipe is still drained, so the container would not block.
	r := strings.NewReader("a\nb\n")
	if err := l.Copy("stdout", r); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Copy after Close: %v, want os.ErrClosed", err)
	}
	if r.Len() != 0 {
		t.Errorf("Copy left %d bytes unread", r.Len())
	}
}

// record is the line the test clock gives "line N\n" on stdout.
func record(line string) string {
	return fmt.Sprintf(`{"log":"%s\n","stream":"stdout","time":"2026-01-02T15:04:05.123456789Z"}`+"\n", line)
}

// recordSize is the size of record("line N").
var recordSize = int64(len(record("line 0")))

func dirFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range ents {
		files[e.Name()] = readFile(t, filepath.Join(dir, e.Name()))
	}
	return files
}

func TestLogRotation(t *testing.T) {
	recs := func(lines ...int) string {
		var b strings.Builder
		for _, n := range lines {
			b.WriteString(record(fmt.Sprint("line ", n)))
		}
		return b.String()
	}
	for _, tc := range []struct {
		name  string
		opts  LogOptions
		stale []string // files there before
		want  map[string]string
	}{
		{"no limit", LogOptions{}, nil, map[string]string{"log.json": recs(1, 2, 3, 4, 5, 6, 7)}},
		{"max files 3", LogOptions{MaxSize: 2 * recordSize, MaxFiles: 3}, nil, map[string]string{
			"log.json":   recs(7),
			"log.json.1": recs(5, 6),
			"log.json.2": recs(3, 4),
		}},
		{"a file holds what fits", LogOptions{MaxSize: 3*recordSize - 1, MaxFiles: 2}, nil, map[string]string{
			"log.json":   recs(7),
			"log.json.1": recs(5, 6),
		}},
		{"max files 1 starts again", LogOptions{MaxSize: 3 * recordSize, MaxFiles: 1}, nil, map[string]string{
			"log.json": recs(7),
		}},
		{"max files 0 is 1", LogOptions{MaxSize: 3 * recordSize}, nil, map[string]string{
			"log.json": recs(7),
		}},
		{"records larger than max size", LogOptions{MaxSize: 10, MaxFiles: 3}, nil, map[string]string{
			"log.json":   recs(7),
			"log.json.1": recs(6),
			"log.json.2": recs(5),
		}},
		{"files beyond max files removed", LogOptions{MaxSize: 4 * recordSize, MaxFiles: 2}, []string{"log.json.2", "log.json.3"}, map[string]string{
			"log.json":   recs(5, 6, 7),
			"log.json.1": recs(1, 2, 3, 4),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, name := range tc.stale {
				if err := os.WriteFile(filepath.Join(dir, name), []byte("stale\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			l, err := NewLog(filepath.Join(dir, "log.json"), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			l.now = func() time.Time { return logT0 }
			if err := l.Copy("stdout", strings.NewReader("line 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\n")); err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			got := dirFiles(t, dir)
			if len(got) != len(tc.want) {
				t.Errorf("files %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(tc.want)))
			}
			for name, want := range tc.want {
				if got[name] != want {
					t.Errorf("%s:\n%s\nwant:\n%s", name, got[name], want)
				}
			}
		})
	}
}

// TestLogReopen: a log opened again appends, and counts what is there
// towards MaxSize.
func TestLogReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log.json")
	o := LogOptions{MaxSize: 2 * recordSize, MaxFiles: 2}
	for _, in := range []string{"line 1\n", "line 2\n", "line 3\n"} {
		l, err := NewLog(path, o)
		if err != nil {
			t.Fatal(err)
		}
		l.now = func() time.Time { return logT0 }
		copyLines(t, l, "stdout", in)
		l.Close()
	}
	want := map[string]string{"log.json": record("line 3"), "log.json.1": record("line 1") + record("line 2")}
	if got := dirFiles(t, dir); !maps.Equal(got, want) {
		t.Errorf("files %q, want %q", got, want)
	}
}
