package explain

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// Phases, in the order a run of an image goes through them. Timing reports
// them in this order; a step's Phase is one of these.
const (
	PhaseResolve  = "resolve"    // image name → manifest in the store
	PhasePull     = "pull"       // blobs fetched from a registry
	PhaseUnpack   = "unpack"     // layer tars applied to directories
	PhaseRootfs   = "rootfs"     // mounts in the new mount namespace
	PhaseCgroup   = "cgroup"     // the container's cgroup made and limited
	PhaseClone    = "clone"      // init started in new namespaces
	PhaseNetwork  = "network"    // veth, addresses, routes, nftables
	PhasePivot    = "pivot_root" // the root switched, the old one detached
	PhaseProcess  = "process"    // hostname, rlimits, credentials, seccomp
	PhaseExec     = "exec"       // execve of the user's process
	PhaseRun      = "run"        // the user's process running
	PhaseTeardown = "teardown"   // --rm: processes, cgroup, network, files removed
)

var phaseOrder = []string{
	PhaseResolve, PhasePull, PhaseUnpack, PhaseRootfs, PhaseCgroup, PhaseClone,
	PhaseNetwork, PhasePivot, PhaseProcess, PhaseExec, PhaseRun, PhaseTeardown,
}

// Step is one kernel-level action, as a person could repeat it by hand.
type Step struct {
	Phase string `json:"phase"`
	// Text is the action in the kernel's terms, one line: the system call
	// and its arguments, or the ip(8)/nft(8) command that does the same.
	Text string `json:"text"`
	// Man names the man page or kernel document that explains it:
	// "mount(2), mount_namespaces(7)".
	Man string `json:"man,omitempty"`
	// Fields are the step's values for tools (--explain=json): a mount's
	// target and fstype, a cgroup file and value.
	Fields map[string]any `json:"fields,omitempty"`
	// Mono is when the step was done, in CLOCK_MONOTONIC nanoseconds;
	// Sink.Step sets it when zero.
	Mono int64 `json:"mono"`
}

// Format is how a Sink writes steps.
type Format int

const (
	Text Format = iota // "[phase] text — man", one line each
	JSON               // one JSON object per line
)

// ParseFormat reads the value of --explain or --timing: "" (off), "true"
// or "text", or "json".
func ParseFormat(s string) (f Format, on bool, err error) {
	switch s {
	case "", "false":
		return Text, false, nil
	case "true", "text":
		return Text, true, nil
	case "json":
		return JSON, true, nil
	}
	return Text, false, fmt.Errorf("%q: must be text or json", s)
}

// Sink receives steps. Its zero value discards them; a nil *Sink is off.
type Sink struct {
	mu     sync.Mutex
	out    io.Writer // nil: steps are only timed
	format Format
	send   func(Step) // instead of out: init's sync socket
	timing bool
	steps  []timed
	last   int64 // Mono of the step before, for Timing
	err    error
}

type timed struct {
	phase string
	d     time.Duration
}

// New returns a Sink that writes each step to w (nil: none) in format f,
// and, with timing, adds up the time of each phase for WriteTiming.
func New(w io.Writer, f Format, timing bool) *Sink {
	return &Sink{out: w, format: f, timing: timing, last: Now()}
}

// Forward returns a Sink that hands each step to send, as init does over
// its sync socket.
func Forward(send func(Step)) *Sink { return &Sink{send: send} }

// Enabled reports whether steps are wanted. Callers test it before
// building a step, so that without --explain nothing is formatted.
func (s *Sink) Enabled() bool { return s != nil }

// Step records one step. Steps that came from another process (init)
// keep their own Mono.
func (s *Sink) Step(st Step) {
	if s == nil {
		return
	}
	if st.Mono == 0 {
		st.Mono = Now()
	}
	if s.send != nil {
		s.send(st)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timing {
		// A step's time runs from the end of the step before it: the
		// work between two steps is the later one's.
		if d := st.Mono - s.last; d > 0 {
			s.steps = append(s.steps, timed{st.Phase, time.Duration(d)})
		}
		if st.Mono > s.last {
			s.last = st.Mono
		}
	}
	if s.out == nil || s.err != nil {
		return
	}
	_, s.err = io.WriteString(s.out, st.format(s.format))
}

// Stepf is Step for a step without fields; it formats only when enabled.
// Its arguments are still boxed into interfaces when off (a small
// allocation each, for values that are not constants): fine for steps
// made once per container; a hot path tests Enabled first.
func (s *Sink) Stepf(phase, man, format string, args ...any) {
	if s == nil {
		return
	}
	s.Step(Step{Phase: phase, Man: man, Text: fmt.Sprintf(format, args...)})
}

// Err returns the first error writing steps out.
func (s *Sink) Err() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (st Step) format(f Format) string {
	if f == JSON {
		b, err := json.Marshal(st)
		if err != nil {
			b, _ = json.Marshal(Step{Phase: st.Phase, Text: st.Text, Man: st.Man, Mono: st.Mono})
		}
		return string(b) + "\n"
	}
	line := fmt.Sprintf("%-12s %s", "["+st.Phase+"]", st.Text)
	if st.Man != "" {
		// Aligned, for reading down the column of man pages.
		if pad := 96 - len(line); pad > 0 {
			line += strings.Repeat(" ", pad)
		}
		line += "  — " + st.Man
	}
	return line + "\n"
}

// PhaseTime is one row of Timing.
type PhaseTime struct {
	Phase    string        `json:"phase"`
	Duration time.Duration `json:"ns"`
	Steps    int           `json:"steps"`
}

// Timing returns the time spent per phase, in phaseOrder, then any other
// phase by name; every phase of phaseOrder is listed, 0 when it did not
// happen (an image already pulled has no pull).
func (s *Sink) Timing() []PhaseTime {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := map[string]int{}
	var out []PhaseTime
	for _, p := range phaseOrder {
		idx[p] = len(out)
		out = append(out, PhaseTime{Phase: p})
	}
	var extra []string
	for _, t := range s.steps {
		i, ok := idx[t.phase]
		if !ok {
			idx[t.phase] = len(out)
			i = len(out)
			out = append(out, PhaseTime{Phase: t.phase})
			extra = append(extra, t.phase)
		}
		out[i].Duration += t.d
		out[i].Steps++
	}
	sort.SliceStable(out[len(phaseOrder):], func(a, b int) bool {
		return out[len(phaseOrder)+a].Phase < out[len(phaseOrder)+b].Phase
	})
	return out
}

// WriteTiming writes Timing as a table (Text) or one JSON line per phase.
func (s *Sink) WriteTiming(w io.Writer, f Format) error {
	rows := s.Timing()
	if f == JSON {
		enc := json.NewEncoder(w)
		for _, r := range rows {
			if err := enc.Encode(struct {
				Timing string  `json:"timing"`
				MS     float64 `json:"ms"`
				Steps  int     `json:"steps"`
			}{r.Phase, float64(r.Duration) / 1e6, r.Steps}); err != nil {
				return err
			}
		}
		return nil
	}
	var b strings.Builder
	var total time.Duration
	fmt.Fprintf(&b, "%-12s %10s %6s\n", "phase", "ms", "steps")
	for _, r := range rows {
		total += r.Duration
		fmt.Fprintf(&b, "%-12s %10.3f %6d\n", r.Phase, float64(r.Duration)/1e6, r.Steps)
	}
	fmt.Fprintf(&b, "%-12s %10.3f\n", "total", float64(total)/1e6)
	_, err := io.WriteString(w, b.String())
	return err
}
