package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// A state directory without a record is either a create still under way
// or one that died before it wrote the record: only the directory's
// flock(2) tells them apart, since create holds it from the directory's
// first instant until the record is written (and the kernel drops it when
// a killed create's files are closed). "From the first instant" takes a
// second lock: mkdir(2) and flock(2) are two calls, and between them the
// directory is there and unlocked. create therefore makes and locks it
// under a shared lock of the root, and GC looks at directories under an
// exclusive one, so it never sees one in that gap.

// makeStateDir makes the container's state directory and returns it
// locked (LOCK_EX), or ErrExist.
func (r *Runtime) makeStateDir(dir string) (*lockFile, error) {
	if err := os.MkdirAll(r.Root, 0o711); err != nil {
		return nil, err
	}
	root, err := lockDir(r.Root, unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer root.unlock()
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("container %q %w", filepath.Base(dir), ErrExist)
		}
		return nil, err
	}
	lock, err := lockDir(dir, unix.LOCK_EX)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return lock, nil
}

// GC removes what creates that were killed before they wrote their record
// left: their state directories and cgroups. It never touches a
// directory whose lock someone holds (a create under way, a delete), nor
// a container with a record, which is its owner's to delete, whatever
// its status. It returns the IDs it removed.
func (r *Runtime) GC() ([]string, error) {
	root, err := lockDir(r.Root, unix.LOCK_EX)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(r.Root)
	if err != nil {
		root.unlock()
		return nil, err
	}
	type orphan struct {
		id   string
		lock *lockFile
	}
	var orphans []orphan
	for _, e := range ents {
		if !e.IsDir() || ValidateID(e.Name()) != nil || r.hasRecord(e.Name()) {
			continue
		}
		lock, err := lockDir(r.dir(e.Name()), unix.LOCK_EX|unix.LOCK_NB)
		if err != nil {
			continue // held: a create or a delete is at work on it
		}
		// Its create may have written the record and let go between the
		// look above and the lock.
		if r.hasRecord(e.Name()) {
			lock.unlock()
			continue
		}
		orphans = append(orphans, orphan{e.Name(), lock})
	}
	// What is locked now stays ours; new creates need not wait for the
	// removals.
	root.unlock()
	var removed []string
	var errs []error
	for _, o := range orphans {
		dir := r.dir(o.id)
		err := r.removeOrphanCgroup(dir)
		if err == nil {
			err = os.RemoveAll(dir)
		}
		o.lock.unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("remove the state of %s: %w", o.id, err))
			continue
		}
		r.Log.Debug("removed the state of a create that died", "id", o.id)
		removed = append(removed, o.id)
	}
	return removed, errors.Join(errs...)
}

func (r *Runtime) hasRecord(id string) bool {
	_, err := os.Lstat(filepath.Join(r.dir(id), recordFile))
	return err == nil
}
