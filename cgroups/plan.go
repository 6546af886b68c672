package cgroups

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Write is one value written to one cgroup file: the describe half of
// describe-then-apply. PlanV2 and PlanV1 return them; Create and Update
// write them in order.
type Write struct {
	// File is relative to the container's cgroup directory. On v2 it is a
	// plain interface file ("memory.max"); on v1 it starts with the
	// hierarchy it lives in ("memory/memory.limit_in_bytes").
	File string
	// Value is written as is, with a single write(2).
	Value string
	// From names the linux.resources field and the conversion that gave
	// Value, for logs and error messages.
	From string
}

var (
	// ErrNeedsV2 is returned for a resource that minirun supports only on
	// a cgroup v2 host ("linux.resources.blockIO needs cgroup v2").
	ErrNeedsV2 = errors.New("needs cgroup v2")
	// ErrNotSupported is returned for a resource that the cgroup version
	// at hand cannot express at all ("linux.resources.memory.kernel is not
	// supported on cgroup v2"). Callers may test it with errors.Is, for
	// example to drop deprecated fields and retry.
	ErrNotSupported = errors.New("not supported")
)

func needsV2(field string) error {
	return fmt.Errorf("linux.resources.%s %w", field, ErrNeedsV2)
}

// notSupported builds "linux.resources.<field> is not supported <why>".
func notSupported(field, why string) error {
	return fmt.Errorf("linux.resources.%s is %w %s", field, ErrNotSupported, why)
}

func invalid(field string, format string, args ...any) error {
	return fmt.Errorf("invalid linux.resources.%s: %s", field, fmt.Sprintf(format, args...))
}

// plan collects writes; its methods keep PlanV2 and PlanV1 readable.
type plan []Write

func (p *plan) add(file, value, from string) {
	*p = append(*p, Write{File: file, Value: value, From: from})
}

// files is the set of files the plan writes, for conflict checks.
func (p plan) files() map[string]bool {
	m := make(map[string]bool, len(p))
	for _, w := range p {
		m[w.File] = true
	}
	return m
}

// Controller returns the controller a write needs: "memory" for
// "memory.max" (v2) or "memory/memory.limit_in_bytes" (v1); "" for the
// core "cgroup.*" files, which every cgroup has.
func (w Write) Controller() string {
	if dir, _, ok := strings.Cut(w.File, "/"); ok {
		return dir
	}
	c, _, _ := strings.Cut(w.File, ".")
	if c == "cgroup" {
		return ""
	}
	return c
}

// controllers lists the controllers a plan needs, in first-use order.
func controllers(ws []Write) []string {
	var out []string
	seen := map[string]bool{}
	for _, w := range ws {
		if c := w.Controller(); c != "" && !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// limitOK checks an OCI byte limit: -1 means unlimited, 0 means "not set"
// (as runc reads it), anything else below -1 is a mistake.
func limitOK(field string, v int64) error {
	if v < -1 {
		return invalid(field, "%d is neither -1 (unlimited) nor a byte count", v)
	}
	return nil
}

// swapLimit checks the OCI swap value, which counts memory plus swap, against
// the memory limit, as both cgroup versions need: a swap limit means nothing
// without a memory limit, and can never be below it.
func swapLimit(limit *int64, swap int64) error {
	if swap < -1 {
		return invalid("memory.swap", "%d is neither -1 (unlimited) nor a byte count", swap)
	}
	if swap == -1 {
		return nil
	}
	if limit == nil || *limit == 0 || *limit == -1 {
		return invalid("memory.swap", "swap=%d needs a memory limit (OCI swap counts memory plus swap)", swap)
	}
	if swap < *limit {
		return invalid("memory.swap", "swap=%d is below limit=%d (OCI swap counts memory plus swap)", swap, *limit)
	}
	return nil
}

func itoa(v int64) string  { return strconv.FormatInt(v, 10) }
func utoa(v uint64) string { return strconv.FormatUint(v, 10) }
func orMax(v int64) string {
	if v == -1 {
		return "max"
	}
	return itoa(v)
}
