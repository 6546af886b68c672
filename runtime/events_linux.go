package runtime

import (
	"errors"
	"time"
)

// Event is one record of `minirun events`, shaped as runc prints them.
type Event struct {
	Type string `json:"type"` // "stats" or "oom"
	ID   string `json:"id"`
	Data any    `json:"data,omitempty"`
}

// Events emits the container's resource usage: once, or every interval
// until the container stops, with an "oom" event whenever its cgroup's
// oom_kill count grows.
func (r *Runtime) Events(id string, interval time.Duration, once bool, emit func(Event) error) error {
	var oomKills uint64
	for {
		st, err := r.Stats(id)
		if err != nil {
			if !once && errors.Is(err, ErrNotRunning) {
				return nil // it stopped: the stream ends
			}
			return err
		}
		if once {
			return emit(Event{Type: "stats", ID: id, Data: st})
		}
		if n := st.Memory.Events["oom_kill"]; n > oomKills {
			oomKills = n
			if err := emit(Event{Type: "oom", ID: id}); err != nil {
				return err
			}
		}
		if err := emit(Event{Type: "stats", ID: id, Data: st}); err != nil {
			return err
		}
		time.Sleep(interval)
	}
}
