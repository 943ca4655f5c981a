package api

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
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
