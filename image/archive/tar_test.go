package archive

import (
	"archive/tar"
	"bytes"
	"fmt"
	"strconv"
	"testing"
	"time"
)

// Test archives are built in code, entry by entry, so that each test says
// exactly what the layer holds.

// ent is one entry of a test archive.
type ent struct {
	hdr  tar.Header
	body string
}

// testTime is the default mtime of test entries: a second in the past,
// so that "the mtime was kept" cannot pass by accident.
var testTime = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

func file(name, body string) ent {
	return ent{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: testTime}, body: body}
}

func dir(name string) ent {
	return ent{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: testTime}}
}

func symlink(name, target string) ent {
	return ent{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: testTime}}
}

func hardlink(name, target string) ent {
	return ent{hdr: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, Mode: 0o644, ModTime: testTime}}
}

func fifo(name string) ent {
	return ent{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: name, Mode: 0o644, ModTime: testTime}}
}

func chardev(name string, major, minor int64) ent {
	return ent{hdr: tar.Header{Typeflag: tar.TypeChar, Name: name, Mode: 0o666, Devmajor: major, Devminor: minor, ModTime: testTime}}
}

func blockdev(name string, major, minor int64) ent {
	return ent{hdr: tar.Header{Typeflag: tar.TypeBlock, Name: name, Mode: 0o660, Devmajor: major, Devminor: minor, ModTime: testTime}}
}

func (e ent) mode(m int64) ent { e.hdr.Mode = m; return e }

func (e ent) owner(uid, gid int) ent { e.hdr.Uid, e.hdr.Gid = uid, gid; return e }

func (e ent) mtime(t time.Time) ent { e.hdr.ModTime = t; return e }

func (e ent) typ(t byte) ent { e.hdr.Typeflag = t; return e }

// pax forces the PAX format, for sub-second times and the access time.
func (e ent) pax() ent { e.hdr.Format = tar.FormatPAX; return e }

func (e ent) atime(t time.Time) ent { e.hdr.AccessTime = t; return e.pax() }

func (e ent) xattr(name, value string) ent {
	r := map[string]string{}
	for k, v := range e.hdr.PAXRecords {
		r[k] = v
	}
	r[xattrPrefix+name] = value
	e.hdr.PAXRecords = r
	return e.pax()
}

// tarball writes ents as a tar archive, end-of-archive marker included.
func tarball(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := e.hdr
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("write header %q: %v", h.Name, err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatalf("write %q: %v", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawHeader is a ustar header block made by hand, for what tar.Writer
// refuses to write.
func rawHeader(name string, typ byte, size int) []byte {
	h := make([]byte, blockSize)
	copy(h[0:100], name)
	copy(h[100:108], "0000644\x00")
	copy(h[108:116], "0000000\x00")
	copy(h[116:124], "0000000\x00")
	copy(h[124:136], fmt.Sprintf("%011o\x00", size))
	copy(h[136:148], fmt.Sprintf("%011o\x00", testTime.Unix()))
	h[156] = typ
	copy(h[257:265], "ustar\x0000")
	fixChecksum(h)
	return h
}

// paxEntry is an entry with a PAX extended header of records, which
// tar.Writer would filter, followed by body (padded) and nothing else: no
// end-of-archive marker.
func paxEntry(name string, records [][2]string, body string) []byte {
	var rec bytes.Buffer
	for _, kv := range records {
		line := " " + kv[0] + "=" + kv[1] + "\n"
		// The length counts its own digits.
		n := len(line) + 1
		for len(strconv.Itoa(n))+len(line) != n {
			n++
		}
		rec.WriteString(strconv.Itoa(n) + line)
	}
	var out bytes.Buffer
	out.Write(rawHeader("PaxHeaders/"+name, tar.TypeXHeader, rec.Len()))
	out.Write(pad(rec.Bytes()))
	out.Write(rawHeader(name, tar.TypeReg, len(body)))
	out.Write(pad([]byte(body)))
	return out.Bytes()
}

func pad(b []byte) []byte {
	return append(b, make([]byte, (blockSize-len(b)%blockSize)%blockSize)...)
}
