// Package when reads the times that corral's API and corralctl take from
// people: RFC 3339, unix seconds, "now", or a signed duration from now. The
// server and its CLI share it, so `corralctl audit --since -1h` and
// `GET /api/v1/audit?since=-1h` mean the same. Standard library only.
package when

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// MaxUnix is 9999-12-31T23:59:59Z, the last second RFC 3339 can write.
const MaxUnix = 253402300799

// Help says what Parse takes, for a flag's help or an error.
const Help = `RFC 3339 (2026-03-01T12:00:00Z), or relative to now: -2h, +10m, -1h30m, now, or unix seconds`

// Parse reads s as RFC 3339, unix seconds (0 to MaxUnix, a fraction allowed),
// "now", or a signed Go duration added to now ("-2h" two hours before now,
// "+10m" ten minutes after). The time is in UTC. Unix seconds out of range are
// an error rather than a time that overflows into one that filters nothing.
func Parse(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "now":
		return now.UTC(), nil
	case s != "" && (s[0] == '-' || s[0] == '+'):
		d, err := time.ParseDuration(s)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q: a relative time is a signed duration such as -2h or +10m", s)
		}
		return now.Add(d).UTC(), nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if err != nil || math.IsNaN(f) || f < 0 || f > MaxUnix {
			return time.Time{}, fmt.Errorf("%q: want unix seconds from 0 to %d (year 9999)", s, MaxUnix)
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want %s", s, Help)
	}
	return t.UTC(), nil
}
