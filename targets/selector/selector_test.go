package selector

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	good := []string{`up`, `{job="x"}`, `a{b="c",d!="e",f=~"g.*",h!~"i"}`, `{__name__=~"corral_.+"}`, `x{ y = 'z' , }`, "x{y=`a\\b`}", `{"quoted.name"="v"}`}
	for _, s := range good {
		if _, err := Parse(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	bad := []string{``, `{}`, `{job=~".*"}`, `{job=}`, `{job="x"`, `a b`, `{job="x" foo}`, `{job~"x"}`, `{job=~"("}`, `9abc`}
	for _, s := range bad {
		if _, err := Parse(s); err == nil {
			t.Errorf("%q accepted", s)
		} else if !strings.Contains(err.Error(), "selector") {
			t.Errorf("%q: error %q does not say what was wrong", s, err)
		}
	}
	sel, _ := Parse(`{job=~"a|b",x!="1"}`)
	if !sel.Matches(map[string]string{"job": "a"}) || sel.Matches(map[string]string{"job": "ab"}) || sel.Matches(map[string]string{"job": "b", "x": "1"}) {
		t.Error("matching semantics")
	}
	// Prometheus's regexes are anchored and let . match a newline.
	sel, _ = Parse(`{msg=~"a.b"}`)
	if !sel.Matches(map[string]string{"msg": "a\nb"}) {
		t.Error(". does not match a newline as in PromQL")
	}
}

func TestMatcher(t *testing.T) {
	for s, want := range map[string]map[string]bool{
		"team=red":      {"red": true, "blue": false, "": false},
		"team!=red":     {"red": false, "blue": true, "": true},
		"team=~r.*":     {"red": true, "ar": false},
		"team!~r.*|":    {"red": false, "": false, "blue": true},
		"team=a=b":      {"a=b": true},
		"team=~(?i)RED": {"red": true},
	} {
		m, err := Matcher(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		for v, ok := range want {
			if m.Matches(v) != ok {
				t.Errorf("%s on %q: %v, want %v", s, v, !ok, ok)
			}
		}
	}
	for _, s := range []string{"team", "=red", "team~red", "team=~("} {
		if _, err := Matcher(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`up`, `{job="x"}`, `a{b=~"c.*",d!~"e"}`, `{a='b'}`, "{a=`b`}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := Parse(s)
		if err != nil {
			return
		}
		sel.Matches(map[string]string{"a": "x"})
	})
}
