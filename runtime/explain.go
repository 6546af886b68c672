package runtime

import (
	"fmt"
	"math/bits"

	"github.com/minirun/minirun/internal/explain"
)

// explainCaps says, set by set, what setCredentials changed: the one step
// of --explain a person most often needs, "which capabilities does the
// process keep?".
func explainCaps(ex *explain.Sink, before, after capSets) {
	for _, s := range []struct {
		name     string
		was, now uint64
		how      string
	}{
		{"bounding", before.Bounding, after.Bounding, "prctl(PR_CAPBSET_DROP)"},
		{"permitted", before.Permitted, after.Permitted, "capset(2)"},
		{"effective", before.Effective, after.Effective, "capset(2)"},
		{"inheritable", before.Inheritable, after.Inheritable, "capset(2)"},
		{"ambient", before.Ambient, after.Ambient, "prctl(PR_CAP_AMBIENT_RAISE)"},
	} {
		text := fmt.Sprintf("%s %s: %d → %d capabilities", s.how, s.name, bits.OnesCount64(s.was), bits.OnesCount64(s.now))
		if dropped := s.was &^ s.now; dropped != 0 {
			text += "; dropped " + capNames(dropped)
		}
		if added := s.now &^ s.was; added != 0 {
			text += "; added " + capNames(added)
		}
		text += "; now " + capNames(s.now)
		ex.Step(explain.Step{
			Phase: explain.PhaseProcess,
			Text:  text,
			Man:   "capabilities(7)",
			Fields: map[string]any{"op": "capabilities", "set": s.name,
				"before": capNames(s.was), "after": capNames(s.now)},
		})
	}
}
