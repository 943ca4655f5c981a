package jsontext

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		body  string
		field string
		ok    bool
	}{
		{body: `{"name":"plain","labels":{"env":"prod"}}`, ok: true},
		{body: `{"name":"\u00e9t\u00e9 \ud83d\ude00"}`, ok: true}, // a pair is fine
		{body: `{"name":"\\ud800"}`, ok: true},                    // an escaped backslash, then text
		{body: `{"name":"\\\ud83d\ude00"}`, ok: true},
		{body: `{"name":"é"}`, ok: true},
		{body: `{"name":"a\ud800"}`, field: "name"},
		{body: `{"name":"a\uDBFFz"}`, field: "name"},
		{body: `{"name":"a\udc00"}`, field: "name"},
		{body: `{"name":"\ude00\ud83d"}`, field: "name"},
		{body: `{"name":"\ud83d\u0041"}`, field: "name"},
		{body: `{"name":"\\\ud800"}`, field: "name"},
		{body: `{"name":"ok","labels":{"env":"\ud800"}}`, field: "labels"},
		{body: `{"name":"ok","labels":{"\udfff":"v"}}`, field: "labels"},
		{body: "{\"name\":\"n\xff\"}", field: "name"},
		{body: `["\ud800"]`, field: ""},
	} {
		field, ok := Check([]byte(tc.body))
		if ok != tc.ok || field != tc.field {
			t.Errorf("%s: %q %v, want %q %v", tc.body, field, ok, tc.field, tc.ok)
		}
	}
}

// FuzzValid: a body Valid passes decodes to the same text it spelled, and
// one it refuses does not (it holds invalid UTF-8 or a lone surrogate, which
// encoding/json turns into U+FFFD).
func FuzzValid(f *testing.F) {
	for _, s := range []string{`"a\ud800"`, `"\ud83d\ude00"`, `"\\ud800"`, "\"\xff\"", `"\udc00\ud800"`, `"plain"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var v string
		if json.Unmarshal([]byte(s), &v) != nil {
			return
		}
		if strings.Contains(s, "\ufffd") || strings.Contains(strings.ToLower(s), "fffd") {
			return // a replacement character the text spelled itself
		}
		changed := strings.Contains(v, "\ufffd") || !utf8.ValidString(s)
		if Valid([]byte(s)) == changed {
			t.Errorf("%q decodes to %q; Valid says %v", s, v, Valid([]byte(s)))
		}
	})
}
