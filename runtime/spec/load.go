package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ErrInvalid is wrapped by every error that describes a mistake in a config
// or process JSON, as opposed to a failure to read the file.
var ErrInvalid = errors.New("invalid config")

// configName is the file in a bundle that holds the Spec; the runtime-spec
// fixes the name (bundle.md).
const configName = "config.json"

// Load reads BUNDLE/config.json and checks it with [Validate].
//
// A file that cannot be read comes back as the error from reading it
// ("open BUNDLE/config.json: no such file or directory"). Malformed JSON and
// every failed check come back as "load BUNDLE/config.json: ..." wrapping
// [ErrInvalid], naming the line and column of a syntax error or the field at
// fault.
//
// Mount destinations that are not absolute are made absolute (relative to the
// container's /) with a warning, as runc does, instead of failing: configs
// written for runc rely on it.
func Load(bundle string) (*specs.Spec, error) {
	path := filepath.Join(bundle, configName)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err // *fs.PathError: "open PATH: ..." names the file already
	}
	var s specs.Spec
	if err := decode(data, &s); err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	absMountDestinations(&s, path)
	if err := Validate(&s, bundle); err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return &s, nil
}

// LoadProcess reads an OCI Process JSON file, the "process" object of a
// config.json on its own (what `exec --process FILE` gets), and checks it with
// [ValidateProcess]. Errors are as [Load]'s; field names are relative to the
// process object ("cwd", not "process.cwd").
func LoadProcess(path string) (*specs.Process, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p specs.Process
	if err := decode(data, &p); err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	if err := ValidateProcess(&p); err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return &p, nil
}

// RootfsPath returns the absolute host path of the container's root
// filesystem: root.path itself when absolute, otherwise root.path inside the
// bundle. A relative bundle is taken relative to the current directory. It
// returns "" when s has no root.
func RootfsPath(s *specs.Spec, bundle string) string {
	if s == nil || s.Root == nil {
		return ""
	}
	if filepath.IsAbs(s.Root.Path) {
		return filepath.Clean(s.Root.Path)
	}
	path := filepath.Join(bundle, s.Root.Path)
	// filepath.Abs only fails when the current directory is gone; the joined
	// path is then the best answer there is, and Validate's stat of it will
	// report the problem.
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return path
}

// decode unmarshals JSON into v. Unknown fields are accepted on purpose (see
// the package documentation). The error says where the problem is: the line
// and column of a syntax error, the field of a value of the wrong type.
func decode(data []byte, v any) error {
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		line, col := position(data, syntaxErr.Offset)
		return fmt.Errorf("line %d, column %d: %w: %w", line, col, syntaxErr, ErrInvalid)
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		line, col := position(data, typeErr.Offset)
		return fmt.Errorf("%s: cannot use JSON %s as %s (line %d, column %d): %w",
			typeErr.Field, typeErr.Value, typeErr.Type, line, col, ErrInvalid)
	}
	// Anything else (an error from a type's own UnmarshalJSON) is still a
	// problem with the content, not with reading it.
	return fmt.Errorf("%w: %w", err, ErrInvalid)
}

// position converts the offset encoding/json reports (the number of bytes it
// had read when it gave up) into the 1-based line and column of the last byte
// read, which is the byte at fault in a syntax error and the end of the value
// in a type error.
func position(data []byte, offset int64) (line, col int) {
	end := int(min(max(offset, 1), int64(len(data)))) // keep data[:end] in range
	if end == 0 {
		return 1, 1 // an empty file
	}
	before := data[:end-1]
	line = 1 + bytes.Count(before, []byte("\n"))
	col = end - bytes.LastIndexByte(before, '\n') - 1
	return line, col
}

// absMountDestinations makes each relative mount destination in s absolute.
// runc does this (with a warning) for configs written before the spec
// required absolute destinations; it is done here, at load time, so that the
// rest of minirun only ever sees absolute ones and Validate can insist on them.
func absMountDestinations(s *specs.Spec, path string) {
	for i := range s.Mounts {
		m := &s.Mounts[i]
		if m.Destination == "" || filepath.IsAbs(m.Destination) {
			continue // an empty destination is Validate's to reject
		}
		abs := filepath.Join("/", m.Destination)
		slog.Warn("mount destination is not absolute; taking it relative to the container's /",
			"config", path, "field", fmt.Sprintf("mounts[%d].destination", i),
			"destination", m.Destination, "now", abs)
		m.Destination = abs
	}
}
