package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func TestCleanName(t *testing.T) {
	long := strings.Repeat("a/", 2048) // 4096 bytes, one too many with the "f"
	tests := []struct {
		in      string
		want    string
		wantErr error
	}{
		{in: "etc/passwd", want: "etc/passwd"},
		{in: "./etc/passwd", want: "etc/passwd"},
		{in: "././etc//passwd", want: "etc/passwd"},
		{in: "etc/", want: "etc"},
		{in: "./", want: "."},
		{in: ".", want: "."},
		{in: "", want: "."},
		{in: "a/./b", want: "a/b"},
		{in: "...", want: "..."},
		{in: "a/..b/c..", want: "a/..b/c.."},
		{in: `a\..\b`, want: `a\..\b`}, // a backslash is a name character here
		{in: "/etc/passwd", wantErr: ErrUnsafePath},
		{in: "/", wantErr: ErrUnsafePath},
		{in: "..", wantErr: ErrUnsafePath},
		{in: "../etc/passwd", wantErr: ErrUnsafePath},
		{in: "./../x", wantErr: ErrUnsafePath},
		{in: "a/../b", wantErr: ErrUnsafePath},
		{in: "a/b/..", wantErr: ErrUnsafePath},
		{in: "a/\x00/b", wantErr: ErrUnsafePath},
		{in: strings.Repeat("x", 255), want: strings.Repeat("x", 255)},
		{in: strings.Repeat("x", 256), wantErr: syscall.ENAMETOOLONG},
		{in: "a/" + strings.Repeat("x", 256) + "/b", wantErr: syscall.ENAMETOOLONG},
		{in: long[:4094] + "f", want: long[:4094] + "f"}, // 4095 bytes: PATH_MAX with its NUL
		{in: long + "f", wantErr: syscall.ENAMETOOLONG},
	}
	for _, tt := range tests {
		got, err := cleanName(tt.in)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("cleanName(%.40q) = %q, %v; want error %v", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("cleanName(%.40q) = %.40q, %v; want %.40q", tt.in, got, err, tt.want)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		in      string
		kind    kind
		target  string
		wantErr bool
	}{
		{in: "etc/passwd", kind: kindPlain},
		{in: ".wh", kind: kindPlain},
		{in: "a/.whx", kind: kindPlain},
		{in: ".wh.passwd", kind: kindWhiteout, target: "passwd"},
		{in: "etc/.wh.passwd", kind: kindWhiteout, target: "passwd"},
		{in: "etc/.wh..hidden", kind: kindWhiteout, target: ".hidden"},
		{in: "etc/.wh....", kind: kindWhiteout, target: "..."},
		{in: ".wh.a/b", kind: kindPlain}, // only the last component is a marker
		{in: "etc/.wh..wh..opq", kind: kindOpaque},
		{in: ".wh..wh..opq", kind: kindOpaque},
		{in: ".wh..wh.plnk", kind: kindMeta},
		{in: ".wh..wh.plnk/1234.5678", kind: kindMeta},
		{in: ".wh..wh.plnk/sub/.wh..wh..opq", kind: kindMeta},
		{in: "a/.wh..wh.orph/x", kind: kindMeta},
		{in: ".wh..wh.aufs", kind: kindMeta},
		{in: ".wh.", wantErr: true},
		{in: "a/.wh..", wantErr: true},
		{in: "a/.wh...", wantErr: true},
	}
	for _, tt := range tests {
		k, target, err := classify(tt.in)
		if tt.wantErr {
			if !errors.Is(err, ErrUnsafePath) {
				t.Errorf("classify(%q) = %v, %q, %v; want ErrUnsafePath", tt.in, k, target, err)
			}
			continue
		}
		if err != nil || k != tt.kind || target != tt.target {
			t.Errorf("classify(%q) = %v, %q, %v; want %v, %q", tt.in, k, target, err, tt.kind, tt.target)
		}
	}
}

func TestValidate(t *testing.T) {
	reg := func(mod func(*tar.Header)) *tar.Header {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: "f"}
		mod(h)
		return h
	}
	tests := []struct {
		name    string
		hdr     *tar.Header
		ok      bool
		wantErr error
	}{
		{"regular", reg(func(h *tar.Header) {}), true, nil},
		{"contiguous", reg(func(h *tar.Header) { h.Typeflag = tar.TypeCont }), true, nil},
		{"uid -1", reg(func(h *tar.Header) { h.Uid = -1 }), false, nil},
		{"device ok", reg(func(h *tar.Header) { h.Typeflag, h.Devmajor, h.Devminor = tar.TypeBlock, 4095, 1<<20-1 }), true, nil},
		{"device major too big", reg(func(h *tar.Header) { h.Typeflag, h.Devmajor = tar.TypeChar, 4096 }), false, nil},
		{"device minor negative", reg(func(h *tar.Header) { h.Typeflag, h.Devminor = tar.TypeChar, -1 }), false, nil},
		{"old GNU sparse", reg(func(h *tar.Header) { h.Typeflag = tar.TypeGNUSparse }), false, ErrUnsupported},
		{"PAX sparse", reg(func(h *tar.Header) { h.PAXRecords = map[string]string{"GNU.sparse.major": "1"} }), false, ErrUnsupported},
		{"volume header", reg(func(h *tar.Header) { h.Typeflag = 'V' }), false, ErrUnsupported},
		{"GNU dumpdir", reg(func(h *tar.Header) { h.Typeflag = 'D' }), false, ErrUnsupported},
	}
	if strconv.IntSize == 64 {
		// int holds these only on 64-bit systems, where a tar's base-256
		// numbers can reach them.
		big := int64(1) << 32
		tests = append(tests, []struct {
			name    string
			hdr     *tar.Header
			ok      bool
			wantErr error
		}{
			{"max ids", reg(func(h *tar.Header) { h.Uid, h.Gid = int(big-2), int(big-2) }), true, nil},
			{"uid (uid_t)-1", reg(func(h *tar.Header) { h.Uid = int(big - 1) }), false, nil},
			{"gid too big", reg(func(h *tar.Header) { h.Gid = int(big << 8) }), false, nil},
		}...)
	}
	for _, tt := range tests {
		err := validate(tt.hdr)
		if tt.ok != (err == nil) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
			t.Errorf("%s: validate = %v", tt.name, err)
		}
	}
}

func TestEntryError(t *testing.T) {
	err := error(&EntryError{Name: "../etc/passwd", Err: ErrUnsafePath})
	if got, want := err.Error(), `layer entry "../etc/passwd": path escapes the layer directory`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, ErrUnsafePath) {
		t.Error("errors.Is(err, ErrUnsafePath) = false")
	}
}

func TestDecompress(t *testing.T) {
	plain := tarball(t, dir("etc/"), file("etc/hostname", "minirun\n"))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain)
	zw.Close()
	var zs bytes.Buffer
	ze, err := zstd.NewWriter(&zs)
	if err != nil {
		t.Fatal(err)
	}
	ze.Write(plain)
	ze.Close()
	// A skippable frame (magic 0x184D2A5E, 4 bytes of payload) before the
	// data, as seekable-zstd writers put one.
	skippable := append([]byte{0x5e, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4}, zs.Bytes()...)
	// A v7 tar header: no ustar magic, only the checksum says it is one.
	v7 := bytes.Clone(plain)
	copy(v7[257:265], make([]byte, 8))
	fixChecksum(v7[:512])

	tests := []struct {
		name string
		in   []byte
		want []byte
		c    Compression
	}{
		{"plain", plain, plain, Uncompressed},
		{"gzip", gz.Bytes(), plain, Gzip},
		{"zstd", zs.Bytes(), plain, Zstd},
		{"zstd after a skippable frame", skippable, plain, Zstd},
		{"v7 tar", v7, v7, Uncompressed},
		{"empty tar", make([]byte, 1024), make([]byte, 1024), Uncompressed},
		{"empty stream", nil, nil, Uncompressed},
	}
	for _, tt := range tests {
		rc, c, err := Decompress(bytes.NewReader(tt.in))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, tt.want) || c != tt.c {
			t.Errorf("%s: got %d bytes (equal %v), %v, %v; want %d bytes, %v", tt.name, len(got), bytes.Equal(got, tt.want), c, err, len(tt.want), tt.c)
		}
	}
}

func TestDecompressGarbage(t *testing.T) {
	badSum := bytes.Clone(tarball(t, file("f", "x")))
	badSum[0] ^= 1
	tests := []struct {
		name    string
		in      []byte
		wantMsg string
	}{
		{"text", []byte(strings.Repeat("hello, world\n", 100)), "starts with 68 65 6c 6c"},
		{"short", []byte("hi"), "not a tar"},
		{"bad checksum", badSum, "not a tar"},
		{"xz", []byte("\xfd7zXZ\x00\x00\x04garbage"), "xz compression"},
		{"bzip2", []byte("BZh91AY&SY"), "bzip2 compression"},
	}
	for _, tt := range tests {
		rc, _, err := Decompress(bytes.NewReader(tt.in))
		if err == nil {
			rc.Close()
			t.Errorf("%s: Decompress succeeded", tt.name)
			continue
		}
		if !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), tt.wantMsg) {
			t.Errorf("%s: err = %v; want ErrUnknownFormat saying %q", tt.name, err, tt.wantMsg)
		}
	}
	// Right magic, broken stream: the decompressor's error, not ours.
	if _, _, err := Decompress(bytes.NewReader([]byte{0x1f, 0x8b, 0, 0})); err == nil || errors.Is(err, ErrUnknownFormat) {
		t.Errorf("truncated gzip header: err = %v", err)
	}
}

// fixChecksum recomputes a tar header's checksum.
func fixChecksum(h []byte) {
	copy(h[148:156], "        ")
	var sum int64
	for _, c := range h {
		sum += int64(c)
	}
	copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
}
