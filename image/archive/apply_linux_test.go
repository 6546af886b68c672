package archive

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minirun/minirun/internal/testenv"
)

// box is the scene of one Apply: the layer directory two levels down, so
// that a relative escape ("../..") lands in a directory the test watches,
// and a sentinel directory beside it:
//
//	tmp/x/layer/       Apply's dir
//	tmp/outside/secret a file no entry may change, replace or link to
type box struct {
	tmp, layer, outside, secret string
	layerSt, secretSt           unix.Stat_t
}

func newBox(t testing.TB) *box {
	t.Helper()
	tmp := t.TempDir()
	b := &box{
		tmp:     tmp,
		layer:   filepath.Join(tmp, "x", "layer"),
		outside: filepath.Join(tmp, "outside"),
		secret:  filepath.Join(tmp, "outside", "secret"),
	}
	if err := os.MkdirAll(b.layer, 0o755); err != nil {
		t.Fatal(err)
	}
	// MkdirAll's mode is filtered by the umask; the checks below want 0755.
	os.Chmod(b.layer, 0o755)
	if err := os.Mkdir(b.outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.secret, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)
	os.Chtimes(b.secret, old, old)
	os.Chtimes(b.outside, old, old)
	b.layerSt = lstat(t, b.layer)
	b.secretSt = lstat(t, b.secret)
	// A hostile archive may leave a directory without write or search
	// permission; the caller (and TempDir's cleanup) must still be able
	// to remove the layer. Cleanups run last-registered first.
	t.Cleanup(func() { makeRemovable(b.tmp) })
	return b
}

// check fails t if anything changed outside the layer directory: a new
// name beside it or above it, a change to the sentinel file (content,
// mode, owner, times, link count) or to its directory.
func (b *box) check(t testing.TB) {
	t.Helper()
	wantNames(t, b.tmp, "outside", "x")
	wantNames(t, filepath.Join(b.tmp, "x"), "layer")
	wantNames(t, b.outside, "secret")
	if body, err := os.ReadFile(b.secret); err != nil || string(body) != "secret\n" {
		t.Errorf("sentinel: %q, %v", body, err)
	}
	st := lstat(t, b.secret)
	if st.Mode != b.secretSt.Mode || st.Uid != b.secretSt.Uid || st.Gid != b.secretSt.Gid ||
		st.Nlink != 1 || st.Ino != b.secretSt.Ino || st.Mtim != b.secretSt.Mtim || st.Ctim != b.secretSt.Ctim {
		t.Errorf("sentinel changed: mode %o uid %d gid %d nlink %d ino %d ctime %v, was mode %o uid %d gid %d ino %d ctime %v",
			st.Mode, st.Uid, st.Gid, st.Nlink, st.Ino, st.Ctim, b.secretSt.Mode, b.secretSt.Uid, b.secretSt.Gid, b.secretSt.Ino, b.secretSt.Ctim)
	}
	if n, _ := unix.Lgetxattr(b.secret, "trusted.overlay.opaque", nil); n >= 0 {
		t.Error("sentinel got an xattr")
	}
	if n, _ := unix.Lgetxattr(b.outside, "trusted.overlay.opaque", nil); n >= 0 {
		t.Error("sentinel directory was made opaque")
	}
	if st := lstat(t, b.layer); st.Mode != b.layerSt.Mode || st.Uid != b.layerSt.Uid {
		t.Errorf("layer directory itself changed: mode %o uid %d, was %o %d", st.Mode, st.Uid, b.layerSt.Mode, b.layerSt.Uid)
	}
}

func makeRemovable(dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		if err != nil && d != nil && d.IsDir() {
			// WalkDir could not read it before the chmod: walk it again.
			makeRemovable(p)
			return fs.SkipDir
		}
		return nil
	})
}

func root() bool { return os.Geteuid() == 0 }

// testOptions are the options for this user: owners only as root.
func testOptions() Options { return Options{NoChown: !root()} }

// applyCase is one archive and exactly what Apply must make of it. When
// the archive must fail, its last entry is the culprit: the error names
// it, and every entry before it was applied.
type applyCase struct {
	name string
	// ents builds the archive; outside is the sentinel directory's
	// absolute path, for entries that aim at it.
	ents func(outside string) []ent
	// root: the case needs root (device nodes, trusted.* xattrs, owners).
	root bool
	// wantErr: errors.Is must hold for each; nil means success.
	wantErr []error
	// check looks at the layer after a successful Apply.
	check func(t *testing.T, layer string, st Stats)
}

// TestApplyImage applies a layer like a distribution's base layer and
// checks every attribute of every entry.
func TestApplyImage(t *testing.T) {
	testenv.RequireRoot(t)
	b := newBox(t)
	at := func(s int) time.Time { return testTime.Add(time.Duration(s) * time.Second) }
	ns := at(7).Add(123456789 * time.Nanosecond)
	ents := []ent{
		dir("./").mtime(at(1)),
		dir("./bin/").mtime(at(2)),
		file("./bin/busybox", "\x7fELF busybox").mode(0o755).mtime(at(3)),
		hardlink("./bin/sh", "bin/busybox").mode(0o755).mtime(at(3)),
		symlink("./bin/ls", "busybox").mtime(at(4)),
		dir("./etc/").mtime(at(5)),
		file("./etc/passwd", "root:x:0:0::/root:/bin/sh\n").mtime(at(6)),
		file("./etc/shadow", "root:*:::::::\n").mode(0o640).owner(0, 42).mtime(ns).atime(at(100)),
		symlink("./etc/mtab", "/proc/self/mounts").mtime(at(8)),
		dir("./home/").mtime(at(9)),
		dir("./home/user/").mode(0o750).owner(1000, 1000).mtime(at(10)),
		file("./home/user/.profile", "export PS1='$ '\n").mode(0o600).owner(1000, 1000).mtime(at(11)),
		dir("./tmp/").mode(0o1777).mtime(at(12)),
		dir("./usr/").mtime(at(13)),
		dir("./usr/bin/").mtime(at(14)),
		file("./usr/bin/passwd", "\x7fELF passwd").mode(0o4755).mtime(at(15)),
		file("./usr/bin/wall", "\x7fELF wall").mode(0o2755).owner(0, 5).mtime(at(16)),
		symlink("./var/run", "../run").owner(1, 1).mtime(at(17)),
		dir("./run/").mtime(at(18)),
		fifo("./run/initctl").mode(0o600).mtime(at(19)),
		file("./etc/empty", "").mode(0o444).mtime(at(20)),
	}
	st, err := Apply(b.layer, bytes.NewReader(tarball(t, ents...)), Options{})
	b.check(t)
	if err != nil {
		t.Fatal(err)
	}
	wantStats(t, st, Stats{Entries: 20, Skipped: 1, Bytes: int64(12 + 26 + 14 + 16 + 11 + 9)})

	type want struct {
		typ, mode uint32
		uid, gid  uint32
		mtime     time.Time
		body      string // files: content; symlinks: target
	}
	wants := map[string]want{
		"bin":                {unix.S_IFDIR, 0o755, 0, 0, at(2), ""},
		"bin/busybox":        {unix.S_IFREG, 0o755, 0, 0, at(3), "\x7fELF busybox"},
		"bin/sh":             {unix.S_IFREG, 0o755, 0, 0, at(3), "\x7fELF busybox"},
		"bin/ls":             {unix.S_IFLNK, 0o777, 0, 0, at(4), "busybox"},
		"etc":                {unix.S_IFDIR, 0o755, 0, 0, at(5), ""},
		"etc/passwd":         {unix.S_IFREG, 0o644, 0, 0, at(6), "root:x:0:0::/root:/bin/sh\n"},
		"etc/shadow":         {unix.S_IFREG, 0o640, 0, 42, ns, "root:*:::::::\n"},
		"etc/mtab":           {unix.S_IFLNK, 0o777, 0, 0, at(8), "/proc/self/mounts"},
		"etc/empty":          {unix.S_IFREG, 0o444, 0, 0, at(20), ""},
		"home":               {unix.S_IFDIR, 0o755, 0, 0, at(9), ""},
		"home/user":          {unix.S_IFDIR, 0o750, 1000, 1000, at(10), ""},
		"home/user/.profile": {unix.S_IFREG, 0o600, 1000, 1000, at(11), "export PS1='$ '\n"},
		"tmp":                {unix.S_IFDIR, 0o1777, 0, 0, at(12), ""},
		"usr":                {unix.S_IFDIR, 0o755, 0, 0, at(13), ""},
		"usr/bin":            {unix.S_IFDIR, 0o755, 0, 0, at(14), ""},
		"usr/bin/passwd":     {unix.S_IFREG, 0o4755, 0, 0, at(15), "\x7fELF passwd"},
		"usr/bin/wall":       {unix.S_IFREG, 0o2755, 0, 5, at(16), "\x7fELF wall"},
		"var":                {unix.S_IFDIR, 0o755, 0, 0, time.Time{}, ""}, // made as a parent
		"var/run":            {unix.S_IFLNK, 0o777, 1, 1, at(17), "../run"},
		"run":                {unix.S_IFDIR, 0o755, 0, 0, at(18), ""},
		"run/initctl":        {unix.S_IFIFO, 0o600, 0, 0, at(19), ""},
	}
	// The PAX access time, and the mtime as access time without one;
	// before anything reads the files, which moves their atime (relatime).
	if st := lstat(t, filepath.Join(b.layer, "etc/shadow")); !time.Unix(st.Atim.Unix()).Equal(at(100)) {
		t.Errorf("etc/shadow: atime %v, want %v", time.Unix(st.Atim.Unix()).UTC(), at(100))
	}
	if st := lstat(t, filepath.Join(b.layer, "etc/passwd")); !time.Unix(st.Atim.Unix()).Equal(at(6)) {
		t.Errorf("etc/passwd: atime %v, want %v", time.Unix(st.Atim.Unix()).UTC(), at(6))
	}
	var found []string
	filepath.WalkDir(b.layer, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Error(err)
		}
		if p != b.layer {
			rel, _ := filepath.Rel(b.layer, p)
			found = append(found, rel)
		}
		return nil
	})
	slices.Sort(found)
	if wantNames := slices.Sorted(maps.Keys(wants)); !slices.Equal(found, wantNames) {
		t.Errorf("layer holds %q\nwant %q", found, wantNames)
	}
	for name, w := range wants {
		p := filepath.Join(b.layer, name)
		st := lstat(t, p)
		if st.Mode&unix.S_IFMT != w.typ || st.Mode&0o7777 != w.mode || st.Uid != w.uid || st.Gid != w.gid {
			t.Errorf("%s: type %o mode %o owner %d:%d; want type %o mode %o owner %d:%d",
				name, st.Mode&unix.S_IFMT, st.Mode&0o7777, st.Uid, st.Gid, w.typ, w.mode, w.uid, w.gid)
		}
		if !w.mtime.IsZero() && !time.Unix(st.Mtim.Unix()).Equal(w.mtime) {
			t.Errorf("%s: mtime %v, want %v", name, time.Unix(st.Mtim.Unix()).UTC(), w.mtime)
		}
		switch w.typ {
		case unix.S_IFREG:
			wantFile(t, b.layer, name, w.body, w.mode)
		case unix.S_IFLNK:
			wantLink(t, b.layer, name, w.body)
		}
	}
	bb, sh := lstat(t, filepath.Join(b.layer, "bin/busybox")), lstat(t, filepath.Join(b.layer, "bin/sh"))
	if bb.Ino != sh.Ino || bb.Nlink != 2 {
		t.Errorf("bin/sh: inode %d (busybox %d), nlink %d; want a hardlink", sh.Ino, bb.Ino, bb.Nlink)
	}
}

// TestApplyStopsAtEndOfArchive: what follows the end-of-archive marker
// is left in the stream for the caller, who hashes it too.
func TestApplyStopsAtEndOfArchive(t *testing.T) {
	for _, trailer := range [][]byte{
		nil,
		[]byte("trailing bytes"),
		make([]byte, 10240-3*512), // GNU tar's padding to a 10 KiB record
	} {
		b := newBox(t)
		r := bytes.NewReader(append(tarball(t, file("f", "x")), trailer...))
		if _, err := Apply(b.layer, r, testOptions()); err != nil {
			t.Fatal(err)
		}
		rest, _ := io.ReadAll(r)
		if !bytes.Equal(rest, trailer) {
			t.Errorf("left %d bytes in the stream, want the %d after the marker", len(rest), len(trailer))
		}
	}
}

func TestApplyTruncated(t *testing.T) {
	full := tarball(t, file("a", "aaaa"), file("big", strings.Repeat("b", 5000)))
	tests := []struct {
		name  string
		n     int
		entry string // the EntryError's name, "" for none
	}{
		{"inside a file", 512*3 + 100, "big"},
		{"inside a header", 512*2 + 100, ""},
	}
	for _, tt := range tests {
		b := newBox(t)
		_, err := Apply(b.layer, bytes.NewReader(full[:tt.n]), testOptions())
		b.check(t)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: err = %v; want io.ErrUnexpectedEOF", tt.name, err)
		}
		var ee *EntryError
		if errors.As(err, &ee) != (tt.entry != "") || (ee != nil && ee.Name != tt.entry) {
			t.Errorf("%s: err = %v; want entry %q named", tt.name, err, tt.entry)
		}
	}
	// A stream that just stops between entries is a complete archive to
	// archive/tar, as to docker.
	b := newBox(t)
	if _, err := Apply(b.layer, bytes.NewReader(full[:512*2]), testOptions()); err != nil {
		t.Errorf("archive without end marker: %v", err)
	}
}

func TestApplyNoDevices(t *testing.T) {
	b := newBox(t)
	opts := testOptions()
	opts.NoDevices = true
	st, err := Apply(b.layer, bytes.NewReader(tarball(t,
		dir("dev/"), chardev("dev/null", 1, 3), blockdev("dev/sda", 8, 0), chardev("dev/wh", 0, 0), file("dev/.wh.gone", ""),
	)), opts)
	b.check(t)
	if err != nil {
		t.Fatal(err)
	}
	wantNames(t, filepath.Join(b.layer, "dev"), "gone", "wh")
	wantDevice(t, b.layer, "dev/wh", unix.S_IFCHR, 0, 0, 0o666)
	wantWhiteout(t, b.layer, "dev/gone")
	wantStats(t, st, Stats{Entries: 3, Skipped: 2, Whiteouts: 1})
}

// hostileHeaders are archives tar.Writer would not write as they are.
func hostileHeaders(t testing.TB) map[string][]byte {
	end := make([]byte, 2*blockSize)
	return map[string][]byte{
		// GNU sparse, PAX 0.1: no data, one terabyte of holes.
		"PAX sparse": slices.Concat(paxEntry("big", [][2]string{
			{"GNU.sparse.major", "0"}, {"GNU.sparse.minor", "1"},
			{"GNU.sparse.numblocks", "1"}, {"GNU.sparse.map", "0,0"}, {"GNU.sparse.size", "1000000000000"},
		}, ""), end),
		"old GNU sparse":       tarball(t, ent{hdr: tar.Header{Typeflag: tar.TypeGNUSparse, Name: "big", Format: tar.FormatGNU}}),
		"negative uid":         slices.Concat(paxEntry("f", [][2]string{{"uid", "-1"}}, ""), end),
		"uid 2^32-1":           slices.Concat(paxEntry("f", [][2]string{{"uid", "4294967295"}}, ""), end),
		"PAX path with dotdot": slices.Concat(paxEntry("f", [][2]string{{"path", "../../outside/pwned"}}, "x"), end),
		"PAX overlay xattr":    slices.Concat(paxEntry("f", [][2]string{{"SCHILY.xattr.trusted.overlay.redirect", "/"}}, "x"), end),
	}
}

func TestApplyHostileHeaders(t *testing.T) {
	want := map[string]error{
		"PAX sparse":           ErrUnsupported,
		"old GNU sparse":       ErrUnsupported,
		"negative uid":         nil, // any error: the kernel has no uid -1
		"uid 2^32-1":           nil,
		"PAX path with dotdot": ErrUnsafePath,
	}
	for name, data := range hostileHeaders(t) {
		t.Run(name, func(t *testing.T) {
			b := newBox(t)
			st, err := Apply(b.layer, bytes.NewReader(data), testOptions())
			b.check(t)
			wantErr, fails := want[name]
			if !fails {
				if err != nil {
					t.Fatal(err)
				}
				wantNoXattr(t, b.layer, "f", "trusted.overlay.redirect")
				wantStats(t, st, Stats{Entries: 1, Bytes: 1, XattrsSkipped: 1})
				return
			}
			var ee *EntryError
			if !errors.As(err, &ee) || (wantErr != nil && !errors.Is(err, wantErr)) {
				t.Fatalf("err = %v; want an EntryError (%v)", err, wantErr)
			}
			t.Log(err)
			wantNames(t, b.layer)
		})
	}
}

func TestApplyGlobalHeader(t *testing.T) {
	b := newBox(t)
	g := ent{hdr: tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "../pax_global_header", PAXRecords: map[string]string{"comment": "x"}}}
	st, err := Apply(b.layer, bytes.NewReader(tarball(t, g, file("f", "x"))), testOptions())
	b.check(t)
	if err != nil {
		t.Fatal(err)
	}
	wantStats(t, st, Stats{Entries: 1, Skipped: 1, Bytes: 1})
}

func TestApplyMissingDir(t *testing.T) {
	_, err := Apply(filepath.Join(t.TempDir(), "nope"), bytes.NewReader(nil), testOptions())
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v; want fs.ErrNotExist", err)
	}
}

// TestApplyManyFiles goes through the last-directory cache: down, up,
// sideways, and back into a directory replaced meanwhile.
func TestApplyManyFiles(t *testing.T) {
	b := newBox(t)
	var ents []ent
	for _, d := range []string{"a", "a/b", "a/b/c", "a", "x/y", "a/b", "a/b/c/d/e", "x"} {
		for i := range 3 {
			ents = append(ents, file(d+"/f"+string(rune('0'+i))+"-"+strings.ReplaceAll(d, "/", "_"), d))
		}
	}
	// The last directory is a/b/c when an entry at the root replaces a:
	// a/b/c/g must go into a new a/b/c, not into the removed one.
	ents = append(ents, file("a/b/c/f9", "x"), file("a", "now a file"), dir("a/"), file("a/b/c/g", "new"), file("a/h", "h"))
	ents = append(ents, file("x/y", "now a file"), file("x/y/again", "x"))
	_, err := Apply(b.layer, bytes.NewReader(tarball(t, ents...)), testOptions())
	b.check(t)
	var ee *EntryError
	if !errors.Is(err, syscall.ENOTDIR) || !errors.As(err, &ee) || ee.Name != "x/y/again" {
		t.Fatalf("err = %v; want ENOTDIR for x/y/again", err)
	}
	wantNames(t, filepath.Join(b.layer, "a"), "b", "h")
	wantNames(t, filepath.Join(b.layer, "a/b/c"), "g")
	wantFile(t, b.layer, "a/b/c/g", "new", 0o644)
	wantFile(t, b.layer, "x/y", "now a file", 0o644)
	wantFile(t, b.layer, "x/f2-x", "x", 0o644)
	wantFile(t, b.layer, "x/f0-x", "x", 0o644)
}

// FuzzApply: whatever the bytes, Apply returns (no panic) and nothing
// outside the layer directory changes. Device nodes are off: the fuzzer
// would otherwise make nodes of real disks in the temp directory.
func FuzzApply(f *testing.F) {
	// The seeds aim at a directory that does not exist; each run has its
	// own sentinel, which the mutations then aim at by "../".
	fake := filepath.Join(os.TempDir(), "minirun-fuzz-outside-does-not-exist")
	for _, c := range applyCases() {
		f.Add(tarball(f, c.ents(fake)...))
	}
	f.Add(tarball(f, dir("./"), dir("./a/"), file("./a/f", "x").xattr("user.x", "1"), hardlink("./a/h", "a/f"),
		symlink("./a/l", "../.."), file("./a/.wh.g", ""), file("./b/.wh..wh..opq", ""), fifo("./p")))
	for _, data := range hostileHeaders(f) {
		f.Add(data)
	}
	opts := Options{NoChown: !root(), NoDevices: true}
	// One box per fuzzing process, a fresh layer directory per input:
	// a slow target starves the fuzzer, above all while it minimizes.
	b := newBox(f)
	if err := os.Remove(b.layer); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.Mkdir(b.layer, 0o755); err != nil {
			t.Fatal(err)
		}
		_, err := Apply(b.layer, bytes.NewReader(data), opts)
		b.check(t)
		makeRemovable(b.layer)
		if err := os.RemoveAll(b.layer); err != nil {
			t.Fatal(err)
		}
		var ee *EntryError
		if errors.As(err, &ee) && ee.Err == nil {
			t.Errorf("EntryError without a cause: %v", err)
		}
	})
}

// Assertions on the layer, by name relative to it.

func lstat(t testing.TB, p string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("lstat: %v", &os.PathError{Op: "lstat", Path: p, Err: err})
	}
	return st
}

func wantNames(t testing.TB, dir string, names ...string) {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, de := range des {
		got = append(got, de.Name())
	}
	if !slices.Equal(got, names) {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}

func wantType(t *testing.T, layer, name string, typ uint32) {
	t.Helper()
	if st := lstat(t, filepath.Join(layer, name)); st.Mode&unix.S_IFMT != typ {
		t.Errorf("%s: type %o, want %o", name, st.Mode&unix.S_IFMT, typ)
	}
}

func wantMode(t *testing.T, layer, name string, mode uint32) {
	t.Helper()
	if st := lstat(t, filepath.Join(layer, name)); st.Mode&0o7777 != mode {
		t.Errorf("%s: mode %o, want %o", name, st.Mode&0o7777, mode)
	}
}

func wantOwner(t *testing.T, layer, name string, uid, gid uint32) {
	t.Helper()
	if st := lstat(t, filepath.Join(layer, name)); st.Uid != uid || st.Gid != gid {
		t.Errorf("%s: owner %d:%d, want %d:%d", name, st.Uid, st.Gid, uid, gid)
	}
}

func wantMtime(t *testing.T, layer, name string, mtime time.Time) {
	t.Helper()
	st := lstat(t, filepath.Join(layer, name))
	if got := time.Unix(st.Mtim.Unix()); !got.Equal(mtime) {
		t.Errorf("%s: mtime %v, want %v", name, got.UTC(), mtime)
	}
}

func wantFile(t *testing.T, layer, name, body string, mode uint32) {
	t.Helper()
	wantType(t, layer, name, unix.S_IFREG)
	wantMode(t, layer, name, mode)
	if got, err := os.ReadFile(filepath.Join(layer, name)); err != nil || string(got) != body {
		t.Errorf("%s: content %q, %v; want %q", name, got, err, body)
	}
}

func wantLink(t *testing.T, layer, name, target string) {
	t.Helper()
	wantType(t, layer, name, unix.S_IFLNK)
	if got, err := os.Readlink(filepath.Join(layer, name)); err != nil || got != target {
		t.Errorf("%s: link to %q, %v; want %q", name, got, err, target)
	}
}

func wantDevice(t *testing.T, layer, name string, typ, major, minor, mode uint32) {
	t.Helper()
	wantType(t, layer, name, typ)
	wantMode(t, layer, name, mode)
	st := lstat(t, filepath.Join(layer, name))
	if unix.Major(st.Rdev) != major || unix.Minor(st.Rdev) != minor {
		t.Errorf("%s: device %d:%d, want %d:%d", name, unix.Major(st.Rdev), unix.Minor(st.Rdev), major, minor)
	}
}

func wantWhiteout(t *testing.T, layer, name string) {
	t.Helper()
	wantDevice(t, layer, name, unix.S_IFCHR, 0, 0, 0)
}

func wantXattr(t *testing.T, layer, name, attr, value string) {
	t.Helper()
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(filepath.Join(layer, name), attr, buf)
	if err != nil || string(buf[:n]) != value {
		t.Errorf("%s: %s = %q, %v; want %q", name, attr, buf[:max(n, 0)], err, value)
	}
}

func wantNoXattr(t *testing.T, layer, name, attr string) {
	t.Helper()
	if _, err := unix.Lgetxattr(filepath.Join(layer, name), attr, nil); err != unix.ENODATA {
		t.Errorf("%s: %s: %v; want ENODATA", name, attr, err)
	}
}

func wantStats(t *testing.T, got, want Stats) {
	t.Helper()
	if got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
}

// BenchmarkApply measures Apply alone, on a layer of many small files.
func BenchmarkApply(b *testing.B) {
	var ents []ent
	var size int64
	for d := range 20 {
		dn := "d" + strconv.Itoa(d) + "/"
		ents = append(ents, dir(dn))
		for f := range 50 {
			body := strings.Repeat("x", 100*f)
			size += int64(len(body))
			ents = append(ents, file(dn+"f"+strconv.Itoa(f), body))
		}
	}
	data := tarball(b, ents...)
	tmp := b.TempDir()
	b.SetBytes(int64(len(data)))
	i := 0
	for b.Loop() {
		layer := filepath.Join(tmp, strconv.Itoa(i))
		i++
		os.Mkdir(layer, 0o755)
		if _, err := Apply(layer, bytes.NewReader(data), testOptions()); err != nil {
			b.Fatal(err)
		}
	}
}
