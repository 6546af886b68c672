package image

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// The store uses two kinds of lock on one file, ROOT/lock. Linux keeps
// them apart (flock(2) locks and fcntl(2) record locks never conflict with
// each other), which lets one file serve both:
//
//   - flock(2), whole file: every operation that adds to the store holds it
//     shared; rmi and prune, which delete what no name references, hold it
//     exclusive, so they never delete a blob that a pull has written but
//     not yet named.
//   - open file description (OFD) record locks, fcntl(2) F_OFD_SETLKW, one
//     byte each: byte 0 guards index.json's read-modify-write; a byte
//     derived from a layer's digest makes two pulls of the same layer
//     download it once (the second waits, then finds it done). Record
//     locks need no file per layer, so a pull that fails adds no file.
//     OFD locks, unlike classic POSIX record locks, belong to the open file
//     and not to the process, so two goroutines conflict as two processes
//     do.

func (s *Store) openLock() (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(s.root, "lock"), os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("image store lock: %w", err)
	}
	return f, nil
}

func (s *Store) flock(how int) (func(), error) {
	f, err := s.openLock()
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("image store lock: flock: %w", err)
	}
	return func() { f.Close() }, nil
}

// lockShared is held by pulls, loads and image runs for their whole run.
func (s *Store) lockShared() (func(), error) { return s.flock(unix.LOCK_SH) }

// lockExclusive is held by rmi and prune.
func (s *Store) lockExclusive() (func(), error) { return s.flock(unix.LOCK_EX) }

func (s *Store) lockRange(off int64) (func(), error) {
	f, err := s.openLock()
	if err != nil {
		return nil, err
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: off, Len: 1}
	for {
		err = unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLKW, &lk)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("image store lock: fcntl F_OFD_SETLKW: %w", err)
	}
	// Closing the last fd of the open file description drops the lock.
	return func() { f.Close() }, nil
}

func (s *Store) lockIndex() (func(), error) { return s.lockRange(0) }

// lockBlob serializes work on one layer (its blob and its unpacked dir).
// Two digests that share their first 62 bits share a byte; they then
// merely wait for each other.
func (s *Store) lockBlob(d digest.Digest) (func(), error) {
	raw, err := digestBytes(d)
	if err != nil {
		return nil, err
	}
	return s.lockRange(1 + int64(binary.BigEndian.Uint64(raw[:8])>>2))
}

func digestBytes(d digest.Digest) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	enc := d.Encoded()
	b := make([]byte, len(enc)/2)
	for i := range b {
		hi, lo := unhex(enc[2*i]), unhex(enc[2*i+1])
		b[i] = hi<<4 | lo
	}
	return b, nil
}

func unhex(c byte) byte {
	if c >= 'a' {
		return c - 'a' + 10
	}
	return c - '0'
}

func lockTmp(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("image store: flock: %w", err)
	}
	return f, nil
}

// tmpIsStale reports whether nobody holds dir's lock. A directory without
// its lock file yet is being created, unless it is old.
func tmpIsStale(dir string) (bool, error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR, 0)
	if err != nil {
		st, serr := os.Stat(dir)
		return serr == nil && time.Since(st.ModTime()) > time.Minute, err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return false, nil
	}
	return true, nil
}
