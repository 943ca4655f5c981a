package main

import (
	"testing"
	"time"
)

// TestParseWhen: the forms every time flag (logs and audit --since, backfill
// --from …) takes.
func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "now", want: now},
		{in: "-5m", want: now.Add(-5 * time.Minute)},
		{in: "+1h30m", want: now.Add(90 * time.Minute)},
		{in: "2026-02-28T10:00:00+01:00", want: time.Date(2026, 2, 28, 9, 0, 0, 0, time.UTC)},
		{in: "1772366400", want: time.Unix(1772366400, 0).UTC()},
		{in: "253402300800", bad: true},
		{in: "99999999999999999999", bad: true},
		{in: "-5", bad: true},
		{in: "yesterday", bad: true},
	} {
		got, err := parseWhen("since", tc.in, now)
		if tc.bad {
			if _, ok := err.(*badInput); !ok {
				t.Errorf("%s: %v, %v; want a bad input", tc.in, got, err)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("%s: %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
