package container

// Reading the container log: tail, since, follow across rotation. The
// format and the writer are in logs.go.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ReadOptions are `logs`'s flags.
type ReadOptions struct {
	// Follow (-f) keeps reading as the log grows (and across rotation),
	// until Done is closed or ctx ends.
	Follow bool
	// Since (--since) leaves out records written before it.
	Since time.Time
	// Tail (--tail N) starts N records before the end; -1: all. It counts
	// records (a line cut at 16 KiB is several), and is applied before
	// Since, as docker does.
	Tail int
	// Timestamps (-t) prefixes each line with its time (RFC 3339 with
	// nanoseconds) and a space.
	Timestamps bool
	// Done is closed when the container has exited and its output has all
	// been written: Follow then drains what is left and returns. Nil: only
	// ctx ends a Follow.
	Done <-chan struct{}
}

// ReadLog writes the log at path to stdout and stderr (each record to its
// stream), as `minirun logs` shows it.
//
// Without Follow, a log that does not exist is an error (fs.ErrNotExist);
// with it, ReadLog waits for the log to appear. Done closing and ctx
// ending are both the ordinary end of a Follow: ReadLog returns nil.
func ReadLog(ctx context.Context, path string, o ReadOptions, stdout, stderr io.Writer) error {
	out := newLogOutput(stdout, stderr, o)
	err := readLog(ctx, path, o, out)
	if ferr := out.flush(); err == nil && ferr != nil {
		err = fmt.Errorf("write logs: %w", ferr)
	}
	return err
}

func readLog(ctx context.Context, path string, o ReadOptions, out *logOutput) error {
	var (
		files    []*os.File
		err      error
		finished bool
	)
	for {
		files, err = openLogFiles(path)
		if !o.Follow || !errors.Is(err, fs.ErrNotExist) {
			break
		}
		if finished {
			return nil // the container exited without writing a log
		}
		// A follower may start before the monitor made the log; all that
		// comes into it then is new.
		if !waitForLog(ctx, o.Done) {
			return nil
		}
		finished = isClosed(o.Done)
		o.Tail = -1
	}
	if err != nil {
		return fmt.Errorf("read log: %w", err)
	}
	defer func() { closeAll(files) }()

	offsets, err := tailOffsets(files, o.Tail)
	if err != nil {
		return fmt.Errorf("read log %s: %w", path, err)
	}
	// Rotated files are complete; only the last one may still grow.
	last := len(files) - 1
	for i, f := range files[:last] {
		if offsets[i] < 0 {
			continue
		}
		if err := newRecordReader(f, offsets[i]).copyTo(out); err != nil {
			return err
		}
	}
	r := newRecordReader(files[last], offsets[last])
	if !o.Follow {
		return r.copyTo(out)
	}
	files[last] = nil // follow closes it, or the file after it
	return follow(ctx, path, r, o.Done, out)
}

// follow copies cur to out and then whatever is added to the log, across
// rotations, until done is closed (then after one last pass) or ctx ends.
func follow(ctx context.Context, path string, cur *recordReader, done <-chan struct{}, out *logOutput) error {
	defer func() { cur.f.Close() }()
	finishing := false
	for {
		if err := cur.copyTo(out); err != nil {
			return err
		}
		next, err := nextLogFile(path, cur.f)
		if err != nil {
			return fmt.Errorf("follow log %s: %w", path, err)
		}
		if next != nil {
			// cur was rotated: the writer flushed it before, so what is
			// now in it is all there will be.
			if err := cur.copyTo(out); err != nil {
				next.Close()
				return err
			}
			cur.f.Close()
			cur = newRecordReader(next, 0)
			continue
		}
		if finishing {
			return nil
		}
		if err := out.flush(); err != nil {
			return fmt.Errorf("write logs: %w", err)
		}
		t := time.NewTimer(followPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-done:
			t.Stop()
			finishing = true
			done = nil
		case <-t.C:
		}
	}
}

// waitForLog waits one poll for a log that does not exist yet, less if
// done closes; false if ctx ended.
func waitForLog(ctx context.Context, done <-chan struct{}) bool {
	t := time.NewTimer(followPoll)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-done:
	case <-t.C:
	}
	return true
}

func isClosed(c <-chan struct{}) bool {
	if c == nil {
		return false
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// listLogFiles stats the log's files, oldest first: log.json.N …
// log.json.1, log.json. A rotation renames one file at a time, from the
// oldest, so it leaves one name missing at any moment (the current one
// included): the rotated ones end where two names in a row are missing.
func listLogFiles(path string) (names []string, infos []fs.FileInfo, err error) {
	for i, missing := 1, 0; missing < 2; i++ {
		fi, err := os.Stat(rotatedName(path, i))
		if errors.Is(err, fs.ErrNotExist) {
			missing++
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		missing = 0
		names = append(names, rotatedName(path, i))
		infos = append(infos, fi)
	}
	slices.Reverse(names)
	slices.Reverse(infos)
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return names, infos, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return append(names, path), append(infos, fi), nil
}

// rotationRetries bounds how often a reader looks again because the files
// moved under it. A rotation takes a whole file of output; many in a row
// mean a writer far faster than any reader.
const rotationRetries = 50

// logFiles lists the log's files as they were at one moment. A listing
// that a rename overtakes (the rename falls between the stats of its two
// names) shows a file twice or not at all; then the next listing, which
// sees the rename at the name stated before it, differs. So two listings
// in a row that agree, the current file included, hold each file once, in
// order. Files are listed even without a current one if that lasts (a
// writer that died in the middle of a rotation).
func logFiles(path string) (names []string, infos []fs.FileInfo, err error) {
	names, infos, err = listLogFiles(path)
	for try := 0; err == nil && try < rotationRetries; try++ {
		var names2 []string
		var infos2 []fs.FileInfo
		names2, infos2, err = listLogFiles(path)
		if err == nil && slices.Equal(names, names2) && slices.EqualFunc(infos, infos2, os.SameFile) {
			if len(names) == 0 || names[len(names)-1] == path {
				return names, infos, nil
			}
			time.Sleep(time.Millisecond) // the new current file comes next
		}
		names, infos = names2, infos2
	}
	return names, infos, err
}

// openLogFiles opens all of the log's files, oldest first, as one
// consistent set: if a rotation moved them while they were being opened,
// it starts again.
func openLogFiles(path string) ([]*os.File, error) {
	for try := 0; try < rotationRetries; try++ {
		names, infos, err := logFiles(path)
		if err != nil {
			return nil, err
		}
		if len(names) == 0 {
			return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
		}
		// A rotation renames every file: if one of them is not what the
		// listing said, the set would not be one.
		files := make([]*os.File, 0, len(names))
		ok := true
		for i, name := range names {
			f, err := openAs(name, infos[i])
			if err != nil {
				closeAll(files)
				return nil, err
			}
			if f == nil {
				ok = false
				break
			}
			files = append(files, f)
		}
		if ok {
			return files, nil
		}
		closeAll(files)
	}
	return nil, fmt.Errorf("open %s: log files moved %d times while being opened", path, rotationRetries)
}

// openAs opens name if it is still the file fi describes, and returns nil
// if it is not.
func openAs(name string, fi fs.FileInfo) (*os.File, error) {
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if now, err := f.Stat(); err != nil || !os.SameFile(now, fi) {
		f.Close()
		return nil, err
	}
	return f, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		if f != nil {
			f.Close()
		}
	}
}

// nextLogFile returns nil while cur is the newest of the log's files, and
// otherwise opens the file that was started after it: the one just newer
// than cur among the files now present, or the oldest one when cur has
// itself been dropped (every file present was created after it).
func nextLogFile(path string, cur *os.File) (*os.File, error) {
	ci, err := cur.Stat()
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(path); err == nil && os.SameFile(fi, ci) {
		return nil, nil // no rotation: the common case, one stat a poll
	}
	for try := 0; try < rotationRetries; try++ {
		names, infos, err := logFiles(path)
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(infos, func(fi fs.FileInfo) bool { return os.SameFile(fi, ci) }) + 1
		if i == len(names) {
			return nil, nil // the next one is not there yet
		}
		f, err := openAs(names[i], infos[i])
		if f != nil || err != nil {
			return f, err
		}
	}
	return nil, fmt.Errorf("log files moved %d times while looking for the next one", rotationRetries)
}

// tailOffsets says where to start reading each file so that the last tail
// records are read: an offset, or -1 for a file to skip. A negative tail
// reads everything. With a tail of 0 the last file starts at its end.
func tailOffsets(files []*os.File, tail int) ([]int64, error) {
	offs := make([]int64, len(files))
	if tail < 0 {
		return offs, nil
	}
	for i := range offs {
		offs[i] = -1
	}
	for i := len(files) - 1; i >= 0; i-- {
		fi, err := files[i].Stat()
		if err != nil {
			return nil, err
		}
		off, found, err := tailOffset(files[i], fi.Size(), tail)
		if err != nil {
			return nil, err
		}
		offs[i] = off
		if tail -= found; tail == 0 {
			break
		}
	}
	return offs, nil
}

// tailOffset finds where the last n complete records of f's first size
// bytes begin, reading backwards, and how many it found (fewer than n when
// the file starts first, at offset 0). A trailing record without its
// newline, still being written, is not counted.
func tailOffset(f *os.File, size int64, n int) (off int64, found int, err error) {
	var buf [32 * 1024]byte
	end := size
	newlines := 0 // the (n+1)th newline from the end ends the record before the n we want
	for end > 0 {
		start := max(end-int64(len(buf)), 0)
		b := buf[:end-start]
		if _, err := f.ReadAt(b, start); err != nil {
			return 0, 0, err
		}
		for j := len(b) - 1; j >= 0; j-- {
			if b[j] != '\n' {
				continue
			}
			if newlines == n {
				return start + int64(j) + 1, n, nil
			}
			newlines++
		}
		end = start
	}
	return 0, newlines, nil
}

// logRecord is one line of the log, decoded.
type logRecord struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// recordReader reads the complete records of a file that may still grow:
// a record the writer has not finished waits for the next read.
type recordReader struct {
	f       *os.File
	r       *bufio.Reader
	partial []byte // an unfinished record from the last read
}

func newRecordReader(f *os.File, off int64) *recordReader {
	// At the file's end, the section returns io.EOF, and then what was
	// appended since, if anything, on the next read.
	sr := io.NewSectionReader(f, off, math.MaxInt64-off)
	return &recordReader{f: f, r: bufio.NewReaderSize(sr, 64*1024)}
}

// next returns the next complete line, or io.EOF at the end of what the
// file holds now.
func (r *recordReader) next() ([]byte, error) {
	for {
		line, err := r.r.ReadSlice('\n')
		if err == nil {
			if len(r.partial) == 0 {
				return line, nil
			}
			r.partial = append(r.partial, line...)
			line, r.partial = r.partial, r.partial[:0]
			return line, nil
		}
		r.partial = append(r.partial, line...)
		if err != bufio.ErrBufferFull {
			return nil, err
		}
	}
}

// copyTo writes the file's complete records to out, up to its end as it
// is now. A line that is not a record (a file cut short by a crash) is
// skipped.
func (r *recordReader) copyTo(out *logOutput) error {
	for {
		line, err := r.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read log %s: %w", r.f.Name(), err)
		}
		var rec logRecord
		if json.Unmarshal(line, &rec) != nil {
			continue
		}
		if err := out.write(&rec); err != nil {
			return fmt.Errorf("write logs: %w", err)
		}
	}
}

// logOutput writes records to their streams. Each stream is buffered, and
// the other flushed when the stream changes, so that a terminal showing
// both gets them in their order.
type logOutput struct {
	w      [2]*bufio.Writer // stdout, stderr
	cur    int
	since  time.Time
	stamps bool
	midway [2]bool // the stream's last record did not end its line
	ts     []byte
}

func newLogOutput(stdout, stderr io.Writer, o ReadOptions) *logOutput {
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	return &logOutput{
		w:      [2]*bufio.Writer{bufio.NewWriter(stdout), bufio.NewWriter(stderr)},
		since:  o.Since,
		stamps: o.Timestamps,
	}
}

func (o *logOutput) write(rec *logRecord) error {
	if !o.since.IsZero() && rec.Time.Before(o.since) {
		return nil
	}
	s := 0
	if rec.Stream == "stderr" {
		s = 1
	}
	if s != o.cur {
		if err := o.w[o.cur].Flush(); err != nil {
			return err
		}
		o.cur = s
	}
	w := o.w[s]
	// A line cut into several records gets one timestamp, its first.
	if o.stamps && !o.midway[s] {
		o.ts = rec.Time.UTC().AppendFormat(o.ts[:0], timestampFormat)
		o.ts = append(o.ts, ' ')
		w.Write(o.ts)
	}
	o.midway[s] = len(rec.Log) > 0 && rec.Log[len(rec.Log)-1] != '\n'
	_, err := w.WriteString(rec.Log)
	return err
}

func (o *logOutput) flush() error {
	return errors.Join(o.w[0].Flush(), o.w[1].Flush())
}

// ParseSince reads --since: an RFC3339 time, a Unix timestamp (with
// fractional seconds) or a duration ago ("10m", "1h30m"). "" is the zero
// time: no limit.
//
// A number without a unit is a Unix timestamp, so "0" is 1970, not now.
func ParseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, ok := parseUnix(s); ok {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("parse since %q: not an RFC 3339 time, a Unix timestamp or a duration", s)
}

// parseUnix reads SECONDS[.FRACTION], at most nanoseconds.
func parseUnix(s string) (time.Time, bool) {
	secs, frac, dot := strings.Cut(s, ".")
	if secs == "" || !allDigits(secs) || (dot && (frac == "" || len(frac) > 9 || !allDigits(frac))) {
		return time.Time{}, false
	}
	sec, err := strconv.ParseInt(secs, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	var nsec int64
	if dot {
		nsec, _ = strconv.ParseInt(frac, 10, 64)
		for range 9 - len(frac) {
			nsec *= 10
		}
	}
	return time.Unix(sec, nsec), true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
