// Package jsontext finds text in a JSON request body that encoding/json would
// silently change: invalid UTF-8, and an escaped lone UTF-16 surrogate such as
// "\ud800". Both decode to U+FFFD, so the text stored, audited or sent to an
// agent would not be what the caller sent, and the caller would never learn.
// The API refuses such a body with a 400 naming the field instead.
package jsontext

import (
	"encoding/json"
	"maps"
	"slices"
	"unicode/utf8"
)

// Check reports whether body's text survives decoding unchanged; when it does
// not, field names the top-level field of the JSON object whose value (or a
// name or value inside it) holds the text ("" when it is elsewhere).
func Check(body []byte) (field string, ok bool) {
	if Valid(body) {
		return "", true
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		return "", false
	}
	// RawMessage keeps the bytes as sent, escapes included.
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		if !Valid(fields[k]) {
			return k, false
		}
	}
	return "", false
}

// Valid reports whether b is valid UTF-8 without an escaped lone surrogate.
func Valid(b []byte) bool {
	return utf8.Valid(b) && !loneSurrogate(b)
}

// loneSurrogate reports whether the JSON text b holds a \u escape of a UTF-16
// surrogate that is not half of a pair (high then low). A backslash appears in
// valid JSON only inside a string, so b need not be parsed.
func loneSurrogate(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if i+1 >= len(b) {
			return false
		}
		if b[i+1] != 'u' {
			i++ // \\, \" and the like: the escaped byte is no escape itself
			continue
		}
		r, ok := hex4(b, i+2)
		if !ok {
			i++
			continue
		}
		switch {
		case r >= 0xD800 && r < 0xDC00: // high: a low one must follow
			if i+12 <= len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
				if lo, ok := hex4(b, i+8); ok && lo >= 0xDC00 && lo < 0xE000 {
					i += 11
					continue
				}
			}
			return true
		case r >= 0xDC00 && r < 0xE000: // low without a high before it
			return true
		}
		i += 5
	}
	return false
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
