package expo

import (
	"math"
	"strconv"
	"unsafe"
)

// pow10 holds the powers of ten that float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFloat reads a sample value as expfmt does: strconv.ParseFloat, except
// that 'p', 'P' and '_' are refused (so are hexadecimal floats and digit
// separators). Both formats' grammars come to the same set of numbers:
// [+-]digits[.digits][e[+-]digits], [+-]Inf, [+-]Infinity and NaN, case-insensitive.
func parseFloat(b []byte) (float64, bool) {
	// Fast path (Clinger's): -?[0-9.]+ whose digits make an integer m of at
	// most 2^53 with at most 22 of them after the point. m and 10^k are then
	// exact float64s, and m/10^k, one correctly rounded division, is the
	// correctly rounded value ParseFloat returns too.
	i := 0
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, i = true, 1
	}
	var m uint64
	nd, fd := 0, 0
	dot := false
	for ; i < len(b); i++ {
		c := b[i]
		if c-'0' <= 9 {
			m = m*10 + uint64(c-'0')
			nd++
			if dot {
				fd++
			}
			continue
		}
		if c == '.' && !dot {
			dot = true
			continue
		}
		return slowFloat(b)
	}
	if nd == 0 || nd > 19 || m > 1<<53 || fd >= len(pow10) {
		return slowFloat(b)
	}
	f := float64(m)
	if fd > 0 {
		f /= pow10[fd]
	}
	if neg {
		f = -f
	}
	return f, true
}

func slowFloat(b []byte) (float64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		if c == 'p' || c == 'P' || c == '_' {
			return 0, false
		}
	}
	// ParseFloat keeps no reference to its argument (its errors copy it), so
	// the body can be read in place.
	f, err := strconv.ParseFloat(unsafe.String(&b[0], len(b)), 64)
	return f, err == nil
}

// parseInt reads a text-format timestamp as strconv.ParseInt(s, 10, 64) does.
func parseInt(b []byte) (int64, bool) {
	i := 0
	neg := false
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		neg, i = b[0] == '-', 1
	}
	if i == len(b) {
		return 0, false
	}
	var u uint64
	for ; i < len(b); i++ {
		d := b[i] - '0'
		if d > 9 || u > (1<<63)/10 {
			return 0, false
		}
		u = u*10 + uint64(d)
		if u > 1<<63 {
			return 0, false
		}
	}
	if neg {
		return -int64(u), true // -(1<<63) wraps to itself, which is right
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// parseSecondsMs reads an OpenMetrics timestamp (seconds, a real number) and
// returns milliseconds as expfmt does: int64(math.Round(seconds*1000)).
func parseSecondsMs(b []byte) (int64, bool) {
	f, ok := parseFloat(b)
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	ms := math.Round(f * 1000)
	if ms < -(1<<63) || ms >= 1<<63 {
		return 0, false
	}
	return int64(ms), true
}
