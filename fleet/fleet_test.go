package fleet

import "testing"

func TestStatuses(t *testing.T) {
	seen := map[Status]bool{}
	for _, s := range Statuses() {
		if !s.Valid() || seen[s] {
			t.Errorf("%q: valid %v, listed before %v", s, s.Valid(), seen[s])
		}
		seen[s] = true
	}
	if len(seen) != 10 || Statuses()[0] != StatusOffline || Statuses()[7] != StatusOnline {
		t.Errorf("statuses %v, want the ten worst first", Statuses())
	}
	for _, s := range []Status{"", "Online", "running"} {
		if s.Valid() {
			t.Errorf("%q valid", s)
		}
	}
}
