package expo

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
)

// render writes samples one a line: name{labels} value [@ts] [family].
func render(p *Parser) string {
	var b strings.Builder
	for _, s := range p.Samples() {
		fmt.Fprintf(&b, "%s{%s} %v", s.Name, s.Labels, s.Value)
		if s.HasTimestamp {
			fmt.Fprintf(&b, " @%d", s.Timestamp)
		}
		if s.Family >= 0 {
			f := p.Families()[s.Family]
			fmt.Fprintf(&b, " [%s %v]", f.Name, f.Type)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func TestParseText(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"empty", "", ""},
		{"blank lines", "\n  \n\t\n", ""},
		{"simple", "foo 1\n", "foo{} 1\n"},
		{"no final newline", "foo 1\nbar 2", "foo{} 1\nbar{} 2\n"},
		{"colon and digits", "a:b_c9 1\n", "a:b_c9{} 1\n"},
		{"empty labels", "foo{} 1\n", "foo{} 1\n"},
		{"labels", `foo{a="b",c="d"} 1` + "\n", `foo{a="b",c="d"} 1` + "\n"},
		{"trailing comma", `foo{a="b",} 1` + "\n", `foo{a="b",} 1` + "\n"},
		{"blanks everywhere", "  foo \t{ a = \"b\" ,\tc=\"d\" , }\t2\t3\n", "foo{ a = \"b\" ,\tc=\"d\" , } 2 @3\n"},
		{"blanks after value", "foo 1 \nbar 2 3\t\n", "foo{} 1\nbar{} 2 @3\n"},
		{"no blank after labels", `foo{a="b"}1` + "\n", `foo{a="b"} 1` + "\n"},
		{"escapes kept raw", `foo{a="\\ \" \n"} 1` + "\n", `foo{a="\\ \" \n"} 1` + "\n"},
		{"utf8 value", `foo{a="ünï 😀"} 1` + "\n", `foo{a="ünï 😀"} 1` + "\n"},
		{"special values", "a NaN\nb +Inf\nc -Inf\nd inf\ne Infinity\nf nan\n",
			"a{} NaN\nb{} +Inf\nc{} -Inf\nd{} +Inf\ne{} +Inf\nf{} NaN\n"},
		{"number forms", "a .5\nb 5.\nc +3\nd -0\ne 1e3\nf 1E-3\ng 007\nh 1e-400\n",
			"a{} 0.5\nb{} 5\nc{} 3\nd{} -0\ne{} 1000\nf{} 0.001\ng{} 7\nh{} 0\n"},
		{"long numbers", "a 1234567890123456789\nb 0.1000000000000000055511151231257827\nc 1.7976931348623157e308\n",
			"a{} 1.2345678901234568e+18\nb{} 0.1\nc{} 1.7976931348623157e+308\n"},
		{"timestamps", "a 1 -5\nb 1 +5\nc 1 9223372036854775807\nd 1 -9223372036854775808\n",
			"a{} 1 @-5\nb{} 1 @5\nc{} 1 @9223372036854775807\nd{} 1 @-9223372036854775808\n"},
		{"comments", "# just a comment\n#\n# HELP\n# TYPE foo\n# EOF\nfoo 1\n", "foo{} 1\n"},
		{"help and type", "# HELP foo The \\\"foo\\\".\n# TYPE foo counter\nfoo 1\n", "foo{} 1 [foo counter]\n"},
		{"type only", "# TYPE foo gauge\nfoo 1\n", "foo{} 1 [foo gauge]\n"},
		{"no space after #", "#HELP foo h\n#TYPE foo gauge\nfoo 1\n", "foo{} 1 [foo gauge]\n"},
		{"type case", "# TYPE foo GAUGE\n# TYPE bar Untyped\nfoo 1\nbar 1\n", "foo{} 1 [foo gauge]\nbar{} 1 [bar untyped]\n"},
		{"type trailing blank", "# TYPE foo gauge \nfoo 1\n", "foo{} 1 [foo gauge]\n"},
		{"help after samples", "foo 1\n# HELP foo later\nfoo 2\n", "foo{} 1\nfoo{} 2 [foo untyped]\n"},
		{"summary", "# TYPE s summary\n" + `s{quantile="0.5"} 1` + "\n" + `s{a="x",quantile="0.9"} 2` + "\ns_sum 3\ns_count 4\n",
			`s{quantile="0.5"} 1 [s summary]` + "\n" + `s{a="x",quantile="0.9"} 2 [s summary]` + "\ns_sum{} 3 [s summary]\ns_count{} 4 [s summary]\n"},
		{"histogram", "# TYPE h histogram\n" + `h_bucket{le="1"} 1` + "\n" + `h_bucket{le="+Inf"} 2.5` + "\nh_sum 3\nh_count 2.5\n",
			`h_bucket{le="1"} 1 [h histogram]` + "\n" + `h_bucket{le="+Inf"} 2.5 [h histogram]` + "\nh_sum{} 3 [h histogram]\nh_count{} 2.5 [h histogram]\n"},
		{"gauge histogram", "# TYPE g gauge_histogram\n" + `g_bucket{le="1"} 1` + "\ng_sum -1\n",
			`g_bucket{le="1"} 1 [g gaugehistogram]` + "\ng_sum{} -1 [g gaugehistogram]\n"},
		{"histogram timestamps", "# TYPE h histogram\n" + `h_bucket{le="1"} 1 7` + "\nh_count 1 7\n",
			`h_bucket{le="1"} 1 @7 [h histogram]` + "\nh_count{} 1 @7 [h histogram]\n"},
		{"suffix of untyped", "foo_sum 1\nfoo_bucket 2\n", "foo_sum{} 1\nfoo_bucket{} 2\n"},
		{"counter _total is its own family", "# TYPE foo counter\nfoo_total 1\n", "foo_total{} 1\n"},
		{"exact name wins", "# HELP s_sum x\n# TYPE s summary\ns_sum 1\ns_sum 2\n", "s_sum{} 1 [s_sum untyped]\ns_sum{} 2 [s_sum untyped]\n"},
		{"help via suffix", "# TYPE s summary\n# HELP s_count the help\ns_count 1\n", "s_count{} 1 [s summary]\n"},
		{"le on a gauge", `foo{le="x",quantile="y"} 1` + "\n", `foo{le="x",quantile="y"} 1` + "\n"},
		{"duplicate series of a gauge", "foo 1\nfoo 2\n", "foo{} 1\nfoo{} 2\n"},
		{"summary sums of other series", "# TYPE s summary\n" + `s_sum{a="1"} 1` + "\n" + `s_sum{a="2"} 1` + "\n",
			`s_sum{a="1"} 1 [s summary]` + "\n" + `s_sum{a="2"} 1 [s summary]` + "\n"},
		{"fractional bucket with count", "# TYPE h histogram\n" + `h_bucket{a="1",le="1"} 0.5` + "\n" + `h_count{a="1"} 1` + "\n",
			`h_bucket{a="1",le="1"} 0.5 [h histogram]` + "\n" + `h_count{a="1"} 1 [h histogram]` + "\n"},
		{"nul byte in value", "foo{a=\"\x00\"} 1\n", "foo{a=\"\x00\"} 1\n"},
	}
	var p Parser
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := p.Parse([]byte(tt.body), false, 0); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := render(&p); got != tt.want {
				t.Errorf("got\n%swant\n%s", got, tt.want)
			}
			// Where expfmt accepts the body too, it finds the same samples.
			compareWithExpfmt(t, &p, []byte(tt.body), false)
		})
	}
}

func TestParseOpenMetrics(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"empty", "# EOF\n", ""},
		{"eof without newline", "foo 1\n# EOF", "foo{} 1\n"},
		{"gauge", "# TYPE foo gauge\nfoo{a=\"b\"} 1.5 1700000000.123\n# EOF\n", "foo{a=\"b\"} 1.5 @1700000000123 [foo gauge]\n"},
		{"timestamp rounding", "foo 1 0.0005\nfoo 1 -1.5\nfoo 1 1e3\n# EOF\n", "foo{} 1 @1\nfoo{} 1 @-1500\nfoo{} 1 @1000000\n"},
		{"counter", "# TYPE foo counter\n# HELP foo Help.\n# UNIT foo \nfoo_total 1\nfoo_created 1.7e9\n# EOF\n",
			"foo_total{} 1 [foo counter]\nfoo_created{} 1.7e+09 [foo counter]\n"},
		{"created first", "# TYPE foo counter\nfoo_created{a=\"1\"} 5\nfoo_total{a=\"1\"} 1\n# EOF\n",
			"foo_created{a=\"1\"} 5 [foo counter]\nfoo_total{a=\"1\"} 1 [foo counter]\n"},
		{"exemplars", "# TYPE foo counter\nfoo_total 1 # {trace_id=\"a\\\"b\"} 0.5\nfoo_total{x=\"y\"} 2 1 # {} 1 1.5\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1 # {a=\"b\"} 1\nh_count 1\n# EOF\n",
			"foo_total{} 1 [foo counter]\nfoo_total{x=\"y\"} 2 @1000 [foo counter]\nh_bucket{le=\"+Inf\"} 1 [h histogram]\nh_count{} 1 [h histogram]\n"},
		{"unit", "# TYPE foo_seconds gauge\n# UNIT foo_seconds seconds\nfoo_seconds 1\n# EOF\n", "foo_seconds{} 1 [foo_seconds gauge]\n"},
		{"summary", "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 3\ns_created 4\n# EOF\n",
			"s{quantile=\"0.5\"} 1 [s summary]\ns_sum{} 2 [s summary]\ns_count{} 3 [s summary]\ns_created{} 4 [s summary]\n"},
		{"quantile label on sum is ordinary", "# TYPE s summary\ns_sum{quantile=\"x\"} 2\n# EOF\n", "s_sum{quantile=\"x\"} 2 [s summary]\n"},
		{"gauge histogram", "# TYPE g gaugehistogram\ng_bucket{le=\"1\"} 1\ng_gsum -2\ng_gcount 1\n# EOF\n",
			"g_bucket{le=\"1\"} 1 [g gaugehistogram]\ng_gsum{} -2 [g gaugehistogram]\ng_gcount{} 1 [g gaugehistogram]\n"},
		{"info", "# TYPE build info\nbuild_info{version=\"1.0\"} 1\n# EOF\n", "build_info{version=\"1.0\"} 1 [build info]\n"},
		{"stateset", "# TYPE st stateset\nst{st=\"a\"} 1\nst{st=\"b\"} 0\n# EOF\n", "st{st=\"a\"} 1 [st stateset]\nst{st=\"b\"} 0 [st stateset]\n"},
		{"unknown", "# TYPE u unknown\nu 1\n# EOF\n", "u{} 1 [u unknown]\n"},
		{"untyped without metadata", "a 1\nb_total 2\n# EOF\n", "a{} 1\nb_total{} 2\n"},
		{"metadata of the next family", "# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\n# EOF\n", "a{} 1 [a gauge]\nb{} 1 [b gauge]\n"},
		{"backslash before any character", "foo{a=\"\\q\\\\\"} 1\n# EOF\n", "foo{a=\"\\q\\\\\"} 1\n"},
	}
	var p Parser
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := p.Parse([]byte(tt.body), true, 0); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := render(&p); got != tt.want {
				t.Errorf("got\n%swant\n%s", got, tt.want)
			}
			compareWithExpfmt(t, &p, []byte(tt.body), true)
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		om   bool
		body string
		want string // the whole error, with its line
	}{
		{"invalid value", false, "foo 1\nfoo abc\n", `line 2: invalid value "abc" for metric foo`},
		{"digit separator", false, "foo 1_000\n", `line 1: invalid value "1_000" for metric foo`},
		{"hex float", false, "foo 0x1p3\n", `line 1: invalid value "0x1p3" for metric foo`},
		{"out of range", false, "foo 1e400\n", `line 1: invalid value "1e400" for metric foo`},
		{"signed NaN", false, "foo -NaN\n", `line 1: invalid value "-NaN" for metric foo`},
		{"missing value", false, "foo\n", "line 1: missing value for metric foo"},
		{"missing value after labels", false, "foo{a=\"b\"}\n", "line 1: missing value for metric foo"},
		{"float timestamp", false, "foo 1 1.5\n", `line 1: invalid timestamp "1.5" for metric foo (want integer milliseconds)`},
		{"timestamp overflow", false, "foo 1 9223372036854775808\n", `line 1: invalid timestamp "9223372036854775808" for metric foo (want integer milliseconds)`},
		{"text after timestamp", false, "foo 1 2 3\n", `line 1: unexpected "3" after the timestamp of metric foo`},
		{"crlf", false, "foo 1\r\n", `line 1: invalid value "1\r" for metric foo (the line ends in a carriage return: CRLF line endings are not supported)`},
		{"name then dash", false, "foo-bar 1\n", "line 1: invalid character '-' after metric name foo"},
		{"name starts with digit", false, "1foo 1\n", `line 1: invalid metric name at "1foo 1"`},
		{"braced name", false, "{\"foo\"} 1\n", "line 1: metric names inside braces (quoted UTF-8 names) are not supported"},
		{"quoted name", false, "foo\"bar\" 1\n", `line 1: quoted metric names are not supported (at "foo\"bar\" 1")`},
		{"quoted label name", false, "foo{\"a.b\"=\"c\"} 1\n", "line 1: quoted label names are not supported (metric foo)"},
		{"bad label name", false, "foo{1a=\"b\"} 1\n", `line 1: invalid label name at "1a=\"b\"} 1" for metric foo`},
		{"missing =", false, "foo{a \"b\"} 1\n", "line 1: expected '=' after label name a for metric foo"},
		{"unquoted value", false, "foo{a=b} 1\n", `line 1: expected '"' at start of the value of label a for metric foo`},
		{"bad escape", false, "foo{a=\"\\t\"} 1\n", `line 1: invalid escape sequence "\\t" in label value`},
		{"newline in value", false, "foo{a=\"b\nc\"} 1\n", "line 1: unterminated label value (label values cannot span lines)"},
		{"unterminated set", false, "foo{a=\"b\" 1\n", `line 1: expected ',' or '}' after the value of label a for metric foo, found '1'`},
		{"double comma", false, "foo{a=\"b\",,} 1\n", `line 1: invalid label name at ",} 1" for metric foo`},
		{"invalid utf8", false, "foo{a=\"\xff\"} 1\n", `line 1: label value "\xff" is not valid UTF-8`},
		{"reserved label", false, "foo{__name__=\"x\"} 1\n", "line 1: label name __name__ is reserved (metric foo)"},
		{"duplicate label", false, "foo{a=\"1\",a=\"2\"} 1\n", "line 1: duplicate label name a for metric foo"},
		{"second help", false, "# HELP foo a\n# HELP foo b\n", "line 2: second HELP line for metric foo"},
		{"bad help escape", false, "# HELP foo C:\\temp\n", `line 1: invalid escape sequence "\\t" in HELP for metric foo`},
		{"second type", false, "# TYPE foo gauge\n# TYPE foo counter\n", "line 2: second TYPE line for metric foo, or TYPE after its samples"},
		{"type after samples", false, "foo 1\n# TYPE foo gauge\n", "line 2: second TYPE line for metric foo, or TYPE after its samples"},
		{"unknown type", false, "# TYPE foo info\n", `line 1: unknown metric type "info" for metric foo`},
		{"bad name in comment", false, "# TYPE foo-bar gauge\n", `line 1: invalid metric name in TYPE line at "foo-bar gauge"`},
		{"summary without quantile", false, "# TYPE s summary\ns 1\n", "line 2: summary sample s has no quantile label"},
		{"summary quantile NaN", false, "# TYPE s summary\ns{quantile=\"NaN\"} 1\n", `line 2: invalid quantile "NaN" for summary s`},
		{"summary quantile on sum", false, "# TYPE s summary\ns_sum{quantile=\"1\"} 1\n", "line 2: sample s_sum must not have a quantile label (expfmt would drop it)"},
		{"summary fractional count", false, "# TYPE s summary\ns_count 1.5\n", `line 2: invalid count "1.5" for summary s (want a whole number)`},
		{"summary duplicate sum", false, "# TYPE s summary\ns_sum{a=\"1\",b=\"2\"} 1\ns_sum{b=\"2\",a=\"1\"} 2\n", `line 3: duplicate sample s_sum{b="2",a="1"}: expfmt keeps only the last one of a summary`},
		{"histogram bare name", false, "# TYPE h histogram\nh 1\n", "line 2: sample h of histogram h: only h_bucket, h_sum and h_count are allowed"},
		{"bucket without le", false, "# TYPE h histogram\nh_bucket 1\n", "line 2: histogram bucket h_bucket has no le label"},
		{"bucket le NaN", false, "# TYPE h histogram\nh_bucket{le=\"NaN\"} 1\n", `line 2: invalid le "NaN" for histogram bucket h_bucket`},
		{"le on count", false, "# TYPE h histogram\nh_count{le=\"1\"} 1\n", "line 2: sample h_count must not have a le label (expfmt would drop it)"},
		{"negative bucket", false, "# TYPE h histogram\nh_bucket{le=\"1\"} -1\n", `line 2: negative value "-1" for h_bucket of histogram h`},
		{"mixed timestamps", false, "# TYPE h histogram\nh_bucket{le=\"1\"} 1 5\nh_count 1 6\n", "line 3: samples of histogram h have different timestamps, or only some have one; this parser does not support that"},
		{"fractional bucket without count", false, "# TYPE h histogram\nh_bucket{le=\"1\"} 0.5\n", `line 2: histogram h: bucket h_bucket{le="1"} has a fractional count but its series has no _count sample (expfmt would make up a _count of 0)`},

		{"om no eof", true, "foo 1\n", "line 2: missing # EOF at the end of the body (OpenMetrics requires it)"},
		{"om empty body", true, "", "line 1: missing # EOF at the end of the body (OpenMetrics requires it)"},
		{"om data after eof", true, "# EOF\nfoo 1\n", "line 2: unexpected data after # EOF"},
		{"om no newline", true, "foo 1", "line 1: missing newline and # EOF at the end of the body"},
		{"om empty line", true, "\n# EOF\n", "line 1: empty line (not allowed in OpenMetrics)"},
		{"om comment", true, "# hello\n# EOF\n", `line 1: invalid comment "# hello": OpenMetrics allows only # TYPE, # HELP, # UNIT and # EOF lines`},
		{"om double space", true, "foo  1\n# EOF\n", `line 1: invalid value "" for metric foo`},
		{"om trailing space", true, "foo 1 \n# EOF\n", `line 1: invalid timestamp "" for metric foo (want seconds)`},
		{"om trailing comma", true, "foo{a=\"b\",} 1\n# EOF\n", `line 1: invalid label name at "} 1" for metric foo`},
		{"om type case", true, "# TYPE foo Gauge\n# EOF\n", `line 1: unknown metric type "Gauge" for metric foo`},
		{"om counter without suffix", true, "# TYPE c counter\nc 1\n# EOF\n", "line 2: sample c of counter c lacks its suffix"},
		{"om negative counter", true, "# TYPE c counter\nc_total -1\n# EOF\n", `line 2: invalid value "-1" for counter c_total (negative or NaN)`},
		{"om created alone", true, "# TYPE c counter\nc_created 1\n# EOF\n", "line 3: counter c: c_created{} has no _total sample with the same labels"},
		{"om created twice", true, "# TYPE c counter\nc_total 1\nc_created 1\nc_created 2\n# EOF\n", "line 4: duplicate sample c_created{}: expfmt keeps only the last one of a counter"},
		{"om interleaved", true, "a 1\nb 1\na 2\n# EOF\n", "line 3: samples of metric family a are interleaved with other families"},
		{"om family again, interleaved", true, "# TYPE a gauge\na 1\n# TYPE a counter\na_total 1\nb 1\na_total 2\n# EOF\n", "line 6: samples of metric family a are interleaved with other families"},
		{"om second unit", true, "# UNIT a_s s\n# UNIT a_s s\n# EOF\n", "line 2: second UNIT line for metric a_s"},
		{"om unit not suffix", true, "# UNIT a_bytes s\n# EOF\n", `line 1: unit "s" is not a suffix of metric a_bytes`},
		{"om help quote", true, "# HELP a say \"hi\"\n# EOF\n", "line 1: unescaped '\"' in HELP for metric a"},
		{"om exemplar on gauge", true, "# TYPE g gauge\ng 1 # {a=\"b\"} 1\n# EOF\n", "line 2: exemplar not allowed on g of gauge g"},
		{"om exemplar NaN", true, "# TYPE c counter\nc_total 1 # {} NaN\n# EOF\n", `line 2: invalid exemplar value "NaN" for metric c_total`},
		{"om exemplar too long", true, "# TYPE c counter\nc_total 1 # {a=\"" + strings.Repeat("x", 128) + "\"} 1\n# EOF\n", "line 2: exemplar labels of metric c_total exceed 128 runes"},
		{"om quantile range", true, "# TYPE s summary\ns{quantile=\"1.5\"} 1\n# EOF\n", `line 2: invalid quantile "1.5" for summary s`},
		{"om negative sum", true, "# TYPE h histogram\nh_sum -1\n# EOF\n", `line 2: invalid sum "-1" for histogram h`},
		{"om info value", true, "# TYPE i info\ni_info 2\n# EOF\n", `line 2: invalid value "2" for info i_info (want 1)`},
		{"om stateset label", true, "# TYPE s stateset\ns{x=\"a\"} 1\n# EOF\n", "line 2: stateset sample s has no label s"},
		{"om crlf", true, "foo 1\r\n# EOF\n", `line 1: invalid value "1\r" for metric foo (the line ends in a carriage return: CRLF line endings are not supported)`},
		{"om timestamp range", true, "foo 1 1e300\n# EOF\n", `line 1: invalid timestamp "1e300" for metric foo (want seconds)`},
	}
	var p Parser
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Parse([]byte(tt.body), tt.om, 0)
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n%s\nwant\n%s", err, tt.want)
			}
			var e *Error
			if !errors.As(err, &e) || !strings.HasPrefix(tt.want, "line "+strconv.Itoa(e.Line)+":") {
				t.Errorf("error %#v has the wrong line", err)
			}
			if len(p.Samples()) != 0 || len(p.Families()) != 0 {
				t.Error("results left after an error")
			}
		})
	}
}

// TestStricterThanExpfmt lists bodies expfmt accepts and this parser rejects
// because accepting them would mean returning other samples than expfmt, or
// because their syntax is not supported. Each must still be rejected.
func TestStricterThanExpfmt(t *testing.T) {
	bodies := []string{
		"foo-1 2\n",                        // expfmt: foo = -1 at timestamp 2
		"foo+1 2\n",                        // same
		"{\"foo\"} 1\n",                    // quoted name
		"{foo} 1\n",                        // name in braces
		"foo{\"a\"=\"b\"} 1\n",             // quoted label name
		"foo\"bar\" 1\n",                   // expfmt reads foobar
		"# TYPE s summary\ns{a=\"b\"} 1\n", // expfmt drops the sample
		"# TYPE s summary\ns{quantile=\"NaN\"} 1\n",                  // expfmt drops the sample
		"# TYPE s summary\ns_sum{quantile=\"0.5\"} 1\n",              // expfmt drops the label
		"# TYPE s summary\ns_count 1.5\n",                            // expfmt truncates to 1
		"# TYPE s summary\ns_count -1\n",                             // expfmt wraps around
		"# TYPE s summary\ns_sum 1\ns_sum 2\n",                       // expfmt keeps the last
		"# TYPE s summary\ns{quantile=\"0.5\",quantile=\"0.9\"} 1\n", // expfmt keeps the last quantile
		"# TYPE h histogram\nh 1\n",                                  // expfmt drops the sample
		"# TYPE h histogram\nh_bucket{a=\"b\"} 1\n",                  // expfmt drops the sample
		"# TYPE h histogram\nh_count{le=\"1\"} 1\n",                  // expfmt drops the label
		"# TYPE h histogram\nh_count 1\nh_count 2\n",                 // expfmt keeps the last
		"# TYPE h histogram\nh_bucket{le=\"1\"} 1 5\nh_count 1\n",    // expfmt gives h_count timestamp 5
		"# TYPE h histogram\nh_bucket{le=\"1\"} 0.5\n",               // expfmt adds h_count 0
		"# TYPE foo ſummary\n",                                       // Unicode case folding
	}
	var p Parser
	for _, b := range bodies {
		if err := p.Parse([]byte(b), false, 0); err == nil {
			t.Errorf("%q accepted", b)
		}
		if _, err := expfmtParse([]byte(b), false); err != nil {
			t.Errorf("%q: expfmt rejects it too (%v); move it to TestParseErrors", b, err)
		}
	}
}

func TestSampleLimit(t *testing.T) {
	body := []byte("# TYPE a gauge\na 1\na 2\na 3\n")
	var p Parser
	if err := p.Parse(body, false, 3); err != nil {
		t.Fatalf("limit 3: %v", err)
	}
	err := p.Parse(body, false, 2)
	if !errors.Is(err, ErrSampleLimit) {
		t.Fatalf("limit 2: %v, want ErrSampleLimit", err)
	}
	if want := "line 4: sample limit exceeded: more than 2 samples; raise sample_limit or make the exporter expose fewer series"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if len(p.Samples()) != 0 {
		t.Error("samples left after the limit")
	}
	if err := p.Parse([]byte("x 1\n"), false, 0); err != nil {
		t.Fatal(err)
	}
}

func TestFamilies(t *testing.T) {
	body := "# HELP a The \\\"a\\\".\n# TYPE a counter\na 1\n# TYPE b_seconds histogram\n# UNIT b_seconds seconds\n" +
		"b_seconds_bucket{le=\"+Inf\"} 1\nb_seconds_count 1\nc 1\n# EOF\n"
	var p Parser
	if err := p.Parse([]byte(body), true, 0); err == nil {
		t.Fatal("counter a without _total accepted")
	}
	body = strings.Replace(body, "\na 1\n", "\na_total 1\n", 1)
	if err := p.Parse([]byte(body), true, 0); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(len(p.Families()))
	for _, f := range p.Families() {
		got += fmt.Sprintf(" %s/%v/%q/%q", f.Name, f.Type, f.Help, f.Unit)
	}
	want := `2 a/counter/"The \\\"a\\\"."/"" b_seconds/histogram/""/"seconds"`
	if got != want {
		t.Errorf("families %s, want %s", got, want)
	}
	fams := []int32{0, 1, 1, -1}
	for i, s := range p.Samples() {
		if s.Family != fams[i] {
			t.Errorf("sample %s: family %d, want %d", s.Name, s.Family, fams[i])
		}
	}
	if h := string(Unescape(nil, p.Families()[0].Help)); h != `The "a".` {
		t.Errorf("unescaped help %q", h)
	}
}

func TestParseFloat(t *testing.T) {
	inputs := []string{
		"0", "-0", "1", "-1", "+1", "1.", ".5", "-.5", "+.5", "00012", "123456789012345", "1234567890123456",
		"0.000000000000001", "0.1", "0.3", "2.675", "9007199254740992", "9007199254740993", "0.9007199254740993",
		"0.7316011321449295", "1234567890123456789", "0.0000000000000000000001", "0.00000000000000000000001", "1e3", "1E3", "1e+3", "1e-3", "1.5e300",
		"4.9e-324", "2e-324", "1e400", "-1e400", "Inf", "+inf", "-INF", "Infinity", "-infinity", "NaN", "nan",
		"+NaN", "-nan", "", "-", "+", ".", "e5", "1e", "1.2.3", "1_000", "0x10", "0x1p3", "0X1P-2", "1p3", " 1",
		"1 ", "1\r", "١", "12345678901234567890",
	}
	for _, s := range inputs {
		got, ok := parseFloat([]byte(s))
		want, err := strconv.ParseFloat(s, 64)
		wantOK := err == nil && !strings.ContainsAny(s, "pP_")
		if ok != wantOK || (ok && math.Float64bits(got) != math.Float64bits(want) && !(math.IsNaN(got) && math.IsNaN(want))) {
			t.Errorf("parseFloat(%q) = %v, %v; want %v, %v", s, got, ok, want, wantOK)
		}
	}
	// The fast path against ParseFloat on many decimals.
	x := uint64(1)
	for range 200000 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		s := strconv.FormatUint(x%(1<<(x%54)), 10)
		if x&2 == 2 {
			s = strings.Repeat("0", int(x>>58)%8) + s
		}
		if k := int(x>>50) % (len(s) + 1); k < len(s) {
			s = s[:k] + "." + s[k:]
		}
		if x&1 == 1 {
			s = "-" + s
		}
		got, ok := parseFloat([]byte(s))
		want, _ := strconv.ParseFloat(s, 64)
		if !ok || math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("parseFloat(%q) = %v, %v; want %v", s, got, ok, want)
		}
	}
}

func TestParseInt(t *testing.T) {
	for _, s := range []string{"0", "-0", "+0", "7", "-7", "+7", "007", "9223372036854775807", "9223372036854775808",
		"-9223372036854775808", "-9223372036854775809", "99999999999999999999", "", "+", "-", "1.5", "1e3", "1_0", " 1"} {
		got, ok := parseInt([]byte(s))
		want, err := strconv.ParseInt(s, 10, 64)
		if ok != (err == nil) || (ok && got != want) {
			t.Errorf("parseInt(%q) = %d, %v; want %d, %v", s, got, ok, want, err)
		}
	}
}

func TestZeroAllocs(t *testing.T) {
	for _, om := range []bool{false, true} {
		body := scrapeBody(t, 200)
		if om {
			body = append(body, "# EOF\n"...)
		}
		var p Parser
		if err := p.Parse(body, om, 0); err != nil {
			if om {
				// The text body is not valid OpenMetrics (counters named
				// _total, free comments); use the client_golang one.
				body = encode(t, agentRegistry(t, false), true)
				if err := p.Parse(body, om, 0); err != nil {
					t.Fatal(err)
				}
			} else {
				t.Fatal(err)
			}
		}
		allocs := testing.AllocsPerRun(100, func() {
			if err := p.Parse(body, om, 1000); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("openMetrics=%v: %v allocations per Parse, want 0", om, allocs)
		}
	}
}
