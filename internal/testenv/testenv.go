// Package testenv holds the test helpers that more than one package needs:
// deciding whether a test that needs root (or a kernel feature) may run.
//
// It lives under internal/ because rootfs, runtime and the black-box tests
// in test/ all start real kernel objects and must agree on one rule: a test
// that cannot run here skips with its reason, except when
// MINIRUN_REQUIRE_ROOT=1, where it fails instead, so that CI can never pass
// by skipping.
package testenv

import (
	"os"
	"testing"
)

// RequireRootEnv is the variable that turns skips into failures.
const RequireRootEnv = "MINIRUN_REQUIRE_ROOT"

// Required reports whether skipping is forbidden in this run.
func Required() bool { return os.Getenv(RequireRootEnv) == "1" }

// SkipOrFail skips t with reason, or fails it when Required.
func SkipOrFail(t testing.TB, reason string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s (and %s=1 forbids skipping)", reason, RequireRootEnv)
	}
	t.Skip(reason)
}

// RequireRoot skips (or fails, see SkipOrFail) unless the test runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "test needs root")
	}
}
