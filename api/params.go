package api

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
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

// onlyParams answers 400 bad_request naming the first query parameter of r
// that is not one of allowed, so that a misspelt or unsupported filter is an
// error rather than silently ignored (and everything returned).
func onlyParams(w http.ResponseWriter, r *http.Request, allowed ...string) bool {
	for name := range r.URL.Query() {
		if !slices.Contains(allowed, name) {
			msg := "unknown parameter"
			if len(allowed) > 0 {
				msg += "; this route takes " + strings.Join(allowed, ", ")
			} else {
				msg += "; this route takes none"
			}
			badParam(w, name, msg)
			return false
		}
	}
	return true
}
