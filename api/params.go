package api

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"time"
)

// Bounds of the paging parameters: large enough for any real fleet or trail,
// small enough that page*limit and offset+limit never overflow an int, on any
// platform, here or in a store.
const (
	MaxPage   = 1_000_000
	MaxOffset = math.MaxInt32
)

// intParam is the integer parameter name of qs, def when absent. A value that
// does not parse or lies outside [lo, hi] is an error that says the range.
func intParam(qs url.Values, name string, def, lo, hi int) (int, error) {
	v := qs.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < int64(lo) || n > int64(hi) {
		return 0, fmt.Errorf("%q: want a number from %d to %d", v, lo, hi)
	}
	return int(n), nil
}

// maxUnix is 9999-12-31T23:59:59Z, the last second RFC 3339 can write.
const maxUnix = 253402300799

// timeParam parses a time parameter, RFC 3339 or unix seconds, as parseTime
// does, but refuses unix seconds outside 1970 to 9999 instead of letting them
// overflow into a time that filters nothing.
func timeParam(s string) (time.Time, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if err != nil || math.IsNaN(f) || f < 0 || f > maxUnix {
			return time.Time{}, fmt.Errorf("%q: want unix seconds from 0 to %d, or RFC 3339", s, maxUnix)
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor unix seconds", s)
	}
	return t.UTC(), nil
}
