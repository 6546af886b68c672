package runtime

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/minirun/minirun/internal/explain"
)

// DefaultRoot is where container state lives unless --root says otherwise.
// It is normally a tmpfs, so state never outlives a reboot, as the processes
// it describes do not either.
const DefaultRoot = "/run/minirun"

// Sentinel errors that callers (and the command line) branch on. Their text
// is what runc prints, because podman and containerd match on it.
var (
	ErrNotExist   = errors.New("does not exist")
	ErrExist      = errors.New("already exists")
	ErrNotRunning = errors.New("container not running")
	ErrNotCreated = errors.New("container is not in created state")
	ErrInvalidID  = errors.New("invalid container id")
	ErrRunning    = errors.New("container is running")
)

// Runtime manages the containers whose state lives under Root.
type Runtime struct {
	Root string
	Log  *slog.Logger
	// Explain receives each kernel-level step of create, start and exec,
	// the parent's and init's in order (--explain, --timing). nil: none.
	Explain *explain.Sink
}

// New returns a Runtime for root (DefaultRoot when empty), logging to log
// (discarded when nil).
func New(root string, log *slog.Logger) *Runtime {
	if root == "" {
		root = DefaultRoot
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runtime{Root: root, Log: log}
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// ValidateID checks that id can name a directory directly under the state
// root and nothing else: no separators, no dot-dot, no leading dot.
func ValidateID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: container id must not be empty", ErrInvalidID)
	}
	if len(id) > 1024 || !idPattern.MatchString(id) || strings.Contains(id, "..") {
		return fmt.Errorf("%w %q: must match [A-Za-z0-9][A-Za-z0-9_.-]* without \"..\"", ErrInvalidID, id)
	}
	return nil
}

func (r *Runtime) dir(id string) string { return filepath.Join(r.Root, id) }

func notExist(id string) error {
	return fmt.Errorf("container %q %w", id, ErrNotExist)
}
