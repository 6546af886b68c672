package cgroups

import (
	"encoding/json"
	"testing"
)

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{Unified: "v2", Hybrid: "hybrid", Legacy: "v1", 0: "Mode(0)"} {
		if got := m.String(); got != want {
			t.Errorf("Mode(%d).String() = %q, want %q", int(m), got, want)
		}
	}
}

func TestStateJSON(t *testing.T) {
	st := State{Mode: Hybrid, Dirs: map[string]string{"memory": "/sys/fs/cgroup/memory/minirun/c1"}}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"mode":"hybrid","dirs":{"memory":"/sys/fs/cgroup/memory/minirun/c1"}}`; string(b) != want {
		t.Errorf("JSON = %s, want %s", b, want)
	}
	var back State
	if err := json.Unmarshal(b, &back); err != nil || back.Mode != Hybrid || back.Dirs["memory"] != st.Dirs["memory"] {
		t.Errorf("round trip = %+v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"mode":"v3"}`), &back); err == nil {
		t.Error("unknown mode accepted")
	}
	if _, err := json.Marshal(State{}); err == nil {
		t.Error("marshalled mode 0")
	}
}
