package archive

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/klauspost/compress/zstd"
)

// Compression is how a layer blob is compressed.
type Compression int

const (
	Uncompressed Compression = iota
	Gzip
	Zstd
)

func (c Compression) String() string {
	switch c {
	case Uncompressed:
		return "uncompressed"
	case Gzip:
		return "gzip"
	case Zstd:
		return "zstd"
	}
	return "Compression(" + strconv.Itoa(int(c)) + ")"
}

// ErrUnknownFormat: Decompress found neither gzip, zstd nor a tar header
// at the start of the stream.
var ErrUnknownFormat = errors.New("not a tar, gzip or zstd stream")

// Magic numbers: RFC 1952 for gzip, RFC 8878 for zstd (a stream may begin
// with a skippable frame, 0x184D2A50 to 0x184D2A5F, little-endian), and
// two formats seen in tarballs but not allowed in OCI layers, named in the
// error so that whoever made the image knows what to change.
var (
	gzipMagic  = []byte{0x1f, 0x8b}
	zstdMagic  = []byte{0x28, 0xb5, 0x2f, 0xfd}
	xzMagic    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	bzip2Magic = []byte{'B', 'Z', 'h'}
)

// blockSize is tar's: a header is one block.
const blockSize = 512

// Decompress detects gzip, zstd or a plain tar from the first bytes of r
// and returns a reader of the uncompressed stream. The media type of a
// layer says what compression it should have; the bytes say what it has,
// and registries are known to disagree.
//
// Closing the reader frees the decompressor; it does not close r. The
// reader may have read ahead from r: to check a digest of r, hash what r
// gives (an io.TeeReader in front of Decompress), and read the returned
// reader to its end before reading the rest of r.
//
// An empty stream is an empty uncompressed layer, as for docker.
func Decompress(r io.Reader) (io.ReadCloser, Compression, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(blockSize)
	if err != nil && err != io.EOF {
		return nil, 0, fmt.Errorf("read layer: %w", err)
	}
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, 0, fmt.Errorf("open gzip stream: %w", err)
		}
		return zr, Gzip, nil
	case bytes.HasPrefix(head, zstdMagic) || isZstdSkippable(head):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, 0, fmt.Errorf("open zstd stream: %w", err)
		}
		return zr.IOReadCloser(), Zstd, nil
	case bytes.HasPrefix(head, xzMagic):
		return nil, 0, fmt.Errorf("%w: xz compression is not supported", ErrUnknownFormat)
	case bytes.HasPrefix(head, bzip2Magic):
		return nil, 0, fmt.Errorf("%w: bzip2 compression is not supported", ErrUnknownFormat)
	case len(head) == 0 || isTarHeader(head):
		return io.NopCloser(br), Uncompressed, nil
	}
	return nil, 0, fmt.Errorf("%w: starts with % x", ErrUnknownFormat, head[:min(len(head), 8)])
}

func isZstdSkippable(b []byte) bool {
	return len(b) >= 4 && b[0]&0xf0 == 0x50 && b[1] == 0x2a && b[2] == 0x4d && b[3] == 0x18
}

// isTarHeader reports whether b begins with a tar header block: one whose
// checksum (tar(5): the sum of the header's bytes, with the checksum
// field itself counted as spaces) is right, or the all-zero block that
// ends an archive (an empty layer is just that). The checksum is what tells
// a tar from anything else: the ustar magic is absent from the old v7
// format and trivially present in garbage that starts with it.
func isTarHeader(b []byte) bool {
	if len(b) < blockSize {
		return false
	}
	b = b[:blockSize]
	zero := true
	var unsigned, signed int64
	for i, c := range b {
		if c != 0 {
			zero = false
		}
		if i >= 148 && i < 156 {
			c = ' '
		}
		unsigned += int64(c)
		// Some old tars (Sun's, early GNU) summed signed chars.
		signed += int64(int8(c))
	}
	if zero {
		return true
	}
	want, ok := parseOctal(b[148:156])
	return ok && (want == unsigned || want == signed)
}

// parseOctal reads a tar numeric field: octal digits, with leading
// spaces, ended by NUL or space.
func parseOctal(f []byte) (int64, bool) {
	f = bytes.TrimLeft(f, " ")
	if i := bytes.IndexAny(f, " \x00"); i >= 0 {
		f = f[:i]
	}
	if len(f) == 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(f), 8, 64)
	return n, err == nil
}
