package container

// The container log.
//
// A detached container's stdout and stderr are pipes whose other ends are
// held by its monitor, which copies them into a log file (Log.Copy) for
// `minirun logs` to read (ReadLog), as long after the container exited as
// the container is kept.
//
// # Why JSON lines
//
// The file is docker's json-file format, one record per line:
//
//	{"log":"hello\n","stream":"stdout","time":"2026-01-02T15:04:05.123456789Z"}
//
// A plain text file would lose which stream a line came from and when it
// was written, and `logs --since`, `-t` and stdout/stderr separation need
// both. One self-contained record per line keeps the file appendable
// (a writer only ever appends whole records), readable from the end
// (`--tail` counts newlines backwards, since a record's newlines are all
// escaped inside its string) and readable by the tools people already point
// at docker's logs. The escaping is docker's, byte for byte.
//
// A line is one record, tagged with its stream, so the two streams never
// mix inside a line; the records of one stream keep their order. A line
// longer than 16 KiB is cut into records of 16 KiB (only the last keeps
// the newline), as docker does, so that the writer never holds more than
// 16 KiB of a line however long it grows: the monitor must stay small.
// The cut may come up to three bytes early so that it does not fall inside
// a UTF-8 character, which JSON would otherwise turn into two U+FFFD.
// Output that ends without a newline becomes a record without one.
//
// The writer buffers records and flushes at the end of every read from the
// container's pipe, so a follower sees output as soon as the container
// writes it, without a write(2) per record when output comes in bursts.
//
// # Why rotation
//
// A container that runs for months would otherwise fill the disk. With
// LogOptions.MaxSize set (docker's --log-opt max-size, max-file), a record
// that would take the current file past MaxSize first moves the files up
// one name, log.json → log.json.1 → log.json.2 …, the oldest beyond
// MaxFiles being dropped, and starts a fresh log.json. Rotated files are
// never written again. Readers take the files oldest first, so --tail and
// --since span them as if they were one.
//
// # How follow works
//
// `logs -f` holds the file open and, once at its end, polls every 150 ms
// for more (a poll costs one read and one stat: no busy loop, and no
// inotify to set up and tear down). Rotation renames the file it holds and
// creates a new one, so at each end it also compares the inode at the log's
// path with the one it holds. When they differ, the file it holds is
// complete (the writer flushes before it renames): it reads what is left,
// then finds the file created just after it, by inode among the files now
// present (so however many rotations happened since the last poll), and
// goes on there from the start. The writer renames one file at a time, so
// a reader lists the files twice and trusts the listing only when the two
// agree (see logFiles). Nothing is read twice, and nothing is missed
// unless the writer dropped a whole file before the follower got to it.
// When ReadOptions.Done closes (the container exited and its output has
// been written), it reads what is left and returns.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

const (
	// maxLogLine is the most of one line a record holds: docker's 16K.
	maxLogLine = 16 * 1024
	// followPoll is how often a follower looks for more output.
	followPoll = 150 * time.Millisecond
	// timestampFormat is what -t prints: RFC 3339 with nanoseconds always
	// printed, as docker's RFC3339NanoFixed, so that the lines align.
	timestampFormat = "2006-01-02T15:04:05.000000000Z07:00"
)

// LogOptions limit a log's size: MaxSize bytes per file (0: no limit),
// MaxFiles files kept (current + rotated: log.json, log.json.1, ... ;
// default 1 when MaxSize is 0).
//
// A MaxFiles of 0 means 1 whatever MaxSize is, as docker's max-file: with
// a single file, passing MaxSize starts the file again, empty.
type LogOptions struct {
	MaxSize  int64
	MaxFiles int
}

func (o LogOptions) maxFiles() int {
	return max(o.MaxFiles, 1)
}

// A Log is a container's log file, written by Copy.
type Log struct {
	path string
	opts LogOptions
	now  func() time.Time // time.Now; tests fix it

	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	size int64 // of the current file, buffered records included
	err  error // the first failure: later records are dropped
}

// NewLog opens (appending) the log at path.
func NewLog(path string, o LogOptions) (*Log, error) {
	if o.MaxSize < 0 || o.MaxFiles < 0 {
		return nil, fmt.Errorf("open log %s: negative max size or max files", path)
	}
	l := &Log{path: path, opts: o, now: time.Now}
	if err := l.open(); err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	return l, nil
}

func (l *Log) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	l.f, l.size = f, fi.Size()
	if l.w == nil {
		l.w = bufio.NewWriterSize(f, 32*1024)
	} else {
		l.w.Reset(f)
	}
	return nil
}

// Copy reads r (a container's stdout or stderr pipe) until EOF, writing a
// record per line tagged with stream. Safe to call concurrently for stdout
// and stderr; records are never interleaved mid-line.
//
// Copy drains r to its end even when the log cannot be written, so that
// the container never blocks on a full pipe; it then returns the first
// error. It holds at most 16 KiB of a line, and one record's encoding.
func (l *Log) Copy(stream string, r io.Reader) error {
	var (
		buf = make([]byte, maxLogLine)
		n   int    // bytes of an unfinished line at the front of buf
		enc []byte // one encoded record, reused
	)
	for {
		m, rerr := r.Read(buf[n:])
		n += m
		// Every complete line, and a full buffer's worth of an overlong
		// one, goes out now, under one lock and one flush.
		lines := buf[:n]
		if m > 0 && (n == len(buf) || bytes.IndexByte(buf[n-m:n], '\n') >= 0) {
			l.mu.Lock()
			for {
				i := bytes.IndexByte(lines, '\n')
				if i < 0 {
					if len(lines) < len(buf) {
						break
					}
					i = splitAt(lines) - 1
				}
				enc = appendRecord(enc[:0], lines[:i+1], stream, l.now())
				l.write(enc)
				lines = lines[i+1:]
			}
			l.flush()
			l.mu.Unlock()
			n = copy(buf, lines)
		}
		if rerr != nil {
			if n > 0 { // the last line, without its newline
				l.mu.Lock()
				l.write(appendRecord(enc[:0], buf[:n], stream, l.now()))
				l.flush()
				l.mu.Unlock()
			}
			l.mu.Lock()
			err := l.err
			l.mu.Unlock()
			if rerr != io.EOF {
				return errors.Join(fmt.Errorf("read container %s: %w", stream, rerr), err)
			}
			return err
		}
	}
}

// splitAt is where a full buffer with no newline is cut: at its end, or up
// to three bytes before it so that a UTF-8 sequence is not cut in two.
func splitAt(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) && i > 0 {
				return i
			}
			break
		}
	}
	return len(b)
}

// write adds one encoded record, rotating first if it would take the file
// past MaxSize. A file gets at least one record, whatever its size. The
// caller holds l.mu.
func (l *Log) write(rec []byte) {
	if l.err != nil {
		return
	}
	if l.f == nil {
		l.err = fmt.Errorf("write log %s: %w", l.path, os.ErrClosed)
		return
	}
	if l.opts.MaxSize > 0 && l.size > 0 && l.size+int64(len(rec)) > l.opts.MaxSize {
		if err := l.rotate(); err != nil {
			l.err = fmt.Errorf("rotate log %s: %w", l.path, err)
			return
		}
	}
	if _, err := l.w.Write(rec); err != nil {
		l.err = fmt.Errorf("write log %s: %w", l.path, err)
		return
	}
	l.size += int64(len(rec))
}

func (l *Log) flush() {
	if l.err != nil || l.f == nil {
		return
	}
	if err := l.w.Flush(); err != nil {
		l.err = fmt.Errorf("write log %s: %w", l.path, err)
	}
}

// rotate moves log.json.N-1 → log.json.N … log.json → log.json.1 (a rename
// replaces its target, which drops the oldest) and opens a new log.json.
// The old file is flushed before it is renamed: a follower that sees the
// rename can take the old file as complete.
func (l *Log) rotate() error {
	if err := l.w.Flush(); err != nil {
		return err
	}
	err := l.f.Close()
	l.f = nil
	if err != nil {
		return err
	}
	keep := l.opts.maxFiles()
	if keep == 1 {
		// A new file rather than a truncated one, so that a follower
		// notices as it does a rename.
		if err := os.Remove(l.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	// Oldest first, so that readers never see two names missing in a
	// row; the last rename replaces, and so drops, the oldest kept file.
	top := 1
	for top < keep-1 {
		if _, err := os.Lstat(rotatedName(l.path, top)); err != nil {
			break
		}
		top++
	}
	for i := min(top, keep-1); i >= 1; i-- {
		err := os.Rename(rotatedName(l.path, i-1), rotatedName(l.path, i))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	// Files beyond MaxFiles, left by a log that kept more, would
	// otherwise be read as the oldest.
	for i := keep; ; i++ {
		if os.Remove(rotatedName(l.path, i)) != nil {
			break
		}
	}
	return l.open()
}

// rotatedName is log.json for 0, log.json.N for N.
func rotatedName(path string, n int) string {
	if n == 0 {
		return path
	}
	return path + "." + strconv.Itoa(n)
}

// Close flushes the log and closes its file. Copy must have returned.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return l.err
	}
	l.flush()
	err := l.f.Close()
	l.f = nil
	if l.err != nil {
		return l.err
	}
	if err != nil {
		return fmt.Errorf("close log %s: %w", l.path, err)
	}
	return nil
}

// appendRecord appends the JSON line for one record, escaped exactly as
// docker's json-file driver escapes it (which is encoding/json's escaping,
// except that \t, \b and \f are written \u00XX).
func appendRecord(b, line []byte, stream string, t time.Time) []byte {
	b = append(b, `{"log":`...)
	b = appendJSONString(b, line)
	b = append(b, `,"stream":`...)
	b = appendJSONString(b, []byte(stream))
	b = append(b, `,"time":"`...)
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, "\"}\n"...)
}

func appendJSONString(b, s []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '\\' && c != '"' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			// Valid JSON, but not valid JavaScript.
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
