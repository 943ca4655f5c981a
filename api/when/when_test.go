package when

import (
	"testing"
	"time"
)

// TestParse: the forms every time of the API (from, to, since, until) and of
// corralctl (--since, --from, --at …) takes.
func TestParse(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "now", want: now},
		{in: " now ", want: now},
		{in: "-5m", want: now.Add(-5 * time.Minute)},
		{in: "-1h", want: now.Add(-time.Hour)},
		{in: "+1h30m", want: now.Add(90 * time.Minute)},
		{in: "2026-02-28T10:00:00+01:00", want: time.Date(2026, 2, 28, 9, 0, 0, 0, time.UTC)},
		{in: "1772366400", want: time.Unix(1772366400, 0).UTC()},
		{in: "1772366400.5", want: time.Unix(1772366400, 5e8).UTC()},
		{in: "0", want: time.Unix(0, 0).UTC()},
		{in: "253402300799", want: time.Unix(MaxUnix, 0).UTC()},
		{in: "253402300800", bad: true},
		{in: "99999999999999999999", bad: true},
		{in: "1e400", bad: true},
		{in: "NaN", bad: true},
		{in: "-5", bad: true},
		{in: "+5", bad: true},
		{in: "-", bad: true},
		{in: "-9999999h", bad: true},
		{in: "", bad: true},
		{in: "yesterday", bad: true},
	} {
		got, err := Parse(tc.in, now)
		if tc.bad {
			if err == nil {
				t.Errorf("%q: %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("%q: %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"now", "-5m", "+1h", "1772366400.5", "2026-02-28T10:00:00+01:00", "1e400", "-"} {
		f.Add(s)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s, now)
		if err == nil && (got.Year() < 1 || got.Year() > 9999) {
			t.Errorf("%q: %v, outside what RFC 3339 writes", s, got)
		}
	})
}
