package explain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestTextLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   Step
		want string
	}{
		{"with man page", Step{Phase: PhaseRootfs, Text: `mount("proc", "/proc", "proc", MS_NOSUID, "")`, Man: "mount(2)"},
			fmt.Sprintf("%-96s  — mount(2)\n", `[rootfs]     mount("proc", "/proc", "proc", MS_NOSUID, "")`)},
		{"long text is not cut", Step{Phase: PhaseClone, Text: strings.Repeat("x", 100), Man: "clone(2)"},
			"[clone]      " + strings.Repeat("x", 100) + "  — clone(2)\n"},
		{"no man page", Step{Phase: PhaseRun, Text: "wait"}, "[run]        wait\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			New(&b, Text, false).Step(tc.st)
			if b.String() != tc.want {
				t.Errorf("got\n%q\nwant\n%q", b.String(), tc.want)
			}
		})
	}
}

func TestJSONLines(t *testing.T) {
	var b bytes.Buffer
	s := New(&b, JSON, false)
	s.Step(Step{Phase: PhaseCgroup, Text: "write", Man: "cgroups(7)", Fields: map[string]any{"file": "pids.max", "value": "50"}})
	s.Step(Step{Phase: PhaseExec, Text: "execve", Mono: 42})
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines: %q", len(lines), b.String())
	}
	var first, second Step
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	if first.Fields["value"] != "50" || first.Man != "cgroups(7)" || first.Mono == 0 {
		t.Errorf("first step decoded as %+v", first)
	}
	if second.Mono != 42 {
		t.Errorf("a step's own time was replaced: %d", second.Mono)
	}
}

func TestNilSinkIsOff(t *testing.T) {
	var s *Sink
	if s.Enabled() {
		t.Fatal("nil sink enabled")
	}
	s.Step(Step{Text: "x"})
	s.Stepf(PhaseRun, "", "%d", 1)
	if s.Err() != nil || s.Timing() != nil {
		t.Error("nil sink has state")
	}
	allocs := testing.AllocsPerRun(100, func() {
		if s.Enabled() {
			s.Step(Step{Phase: PhaseRootfs, Text: "never built", Fields: map[string]any{"a": 1}})
		}
		s.Stepf(PhaseRootfs, "mount(2)", "mount %s", "x")
	})
	if allocs != 0 {
		t.Errorf("the off path allocates %v times per step", allocs)
	}
}

func TestForward(t *testing.T) {
	var got []Step
	s := Forward(func(st Step) { got = append(got, st) })
	s.Stepf(PhasePivot, "pivot_root(2)", "pivot_root(%q, %q)", ".", ".")
	if len(got) != 1 || got[0].Text != `pivot_root(".", ".")` || got[0].Mono == 0 {
		t.Errorf("forwarded %+v", got)
	}
}

func TestTiming(t *testing.T) {
	s := New(nil, Text, true)
	base := s.last
	ms := int64(time.Millisecond)
	s.Step(Step{Phase: PhaseResolve, Mono: base + 2*ms})
	s.Step(Step{Phase: PhaseRootfs, Mono: base + 5*ms})
	s.Step(Step{Phase: PhaseRootfs, Mono: base + 6*ms})
	s.Step(Step{Phase: "custom", Mono: base + 10*ms})
	rows := s.Timing()
	want := map[string]time.Duration{PhaseResolve: 2 * time.Millisecond, PhaseRootfs: 4 * time.Millisecond, "custom": 4 * time.Millisecond, PhasePull: 0}
	seen := map[string]bool{}
	for _, r := range rows {
		seen[r.Phase] = true
		if d, ok := want[r.Phase]; ok && r.Duration != d {
			t.Errorf("%s: %v, want %v", r.Phase, r.Duration, d)
		}
	}
	for _, p := range phaseOrder {
		if !seen[p] {
			t.Errorf("phase %s missing from the table", p)
		}
	}
	if rows[len(rows)-1].Phase != "custom" {
		t.Errorf("unknown phases go last: %v", rows)
	}
	var b bytes.Buffer
	if err := s.WriteTiming(&b, JSON); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `{"timing":"rootfs","ms":4,"steps":2}`) {
		t.Errorf("JSON timing:\n%s", b.String())
	}
}

func TestParseFormat(t *testing.T) {
	for _, tc := range []struct {
		in      string
		f       Format
		on, bad bool
	}{{"", Text, false, false}, {"true", Text, true, false}, {"text", Text, true, false}, {"json", JSON, true, false}, {"yaml", Text, false, true}} {
		f, on, err := ParseFormat(tc.in)
		if f != tc.f || on != tc.on || (err != nil) != tc.bad {
			t.Errorf("ParseFormat(%q) = %v, %v, %v", tc.in, f, on, err)
		}
	}
}
