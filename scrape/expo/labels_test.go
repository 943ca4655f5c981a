package expo

import (
	"strings"
	"testing"
)

func TestEachLabel(t *testing.T) {
	tests := []struct {
		labels string
		want   string // name=raw, …
	}{
		{``, ``},
		{` `, ``},
		{`a="b"`, `a=b`},
		{`a="b",c="d"`, `a=b c=d`},
		{` a = "b" ,	c="d" , `, `a=b c=d`},
		{`a="b",`, `a=b`},
		{`a="x\"y\\",b=""`, `a=x\"y\\ b=`},
		{`a="}",b="{,="`, `a=} b={,=`},
		{`a="unterminated`, ``},
		{`a="b",c`, `a=b`},
		{`=`, ``},
	}
	for _, tt := range tests {
		var got []string
		EachLabel([]byte(tt.labels), func(name, raw []byte) bool {
			got = append(got, string(name)+"="+string(raw))
			return true
		})
		if g := strings.Join(got, " "); g != tt.want {
			t.Errorf("EachLabel(%q): %q, want %q", tt.labels, g, tt.want)
		}
	}
	n := 0
	EachLabel([]byte(`a="1",b="2",c="3"`), func(_, _ []byte) bool { n++; return n < 2 })
	if n != 2 {
		t.Errorf("EachLabel went on after false: %d calls", n)
	}
}

func TestLabelValue(t *testing.T) {
	labels := []byte(`state="running", path="C:\\temp\\",msg="say \"hi\"\n", empty="", odd="\q"`)
	tests := []struct {
		name, want string
		ok         bool
	}{
		{"state", "running", true},
		{"path", `C:\temp\`, true},
		{"msg", "say \"hi\"\n", true},
		{"empty", "", true},
		{"odd", `\q`, true},
		{"missing", "", false},
		{"stat", "", false},
	}
	for _, tt := range tests {
		v, ok := LabelValue(labels, tt.name)
		if ok != tt.ok || string(v) != tt.want {
			t.Errorf("LabelValue(%s) = %q, %v; want %q, %v", tt.name, v, ok, tt.want, tt.ok)
		}
	}
	if a := testing.AllocsPerRun(100, func() { LabelValue(labels, "state") }); a != 0 {
		t.Errorf("LabelValue of a plain value: %v allocations", a)
	}
}

func TestUnescape(t *testing.T) {
	for raw, want := range map[string]string{
		``:            ``,
		`plain`:       `plain`,
		`\\`:          `\`,
		`\"`:          `"`,
		`\n`:          "\n",
		`\\n`:         `\n`,
		`a\\\"b\nc`:   "a\\\"b\nc",
		`\q`:          `\q`,
		`trailing\`:   `trailing\`,
		`ünï\n😀`:      "ünï\n😀",
		`\\\\\\`:      `\\\`,
		`x\"\"\"\"`:   `x""""`,
		`\t\r`:        `\t\r`,
		`mixed\\q\qz`: `mixed\q\qz`,
	} {
		if got := string(Unescape([]byte("pre:"), []byte(raw))); got != "pre:"+want {
			t.Errorf("Unescape(%q) = %q, want %q", raw, got, "pre:"+want)
		}
	}
}
