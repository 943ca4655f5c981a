package expo

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// randomBody writes a small exposition from pieces that meet at the edges of
// the format: names that are suffixes of others, le and quantile where they do
// and do not belong, NaN, -0, fractions, timestamps on some lines only,
// duplicates, metadata late or twice. Random bytes seldom make such bodies;
// FuzzAgainstExpfmt finds the rest.
func randomBody(r *rand.Rand, om bool) string {
	pick := func(s ...string) string { return s[r.IntN(len(s))] }
	bases := []string{"a", "a", "a", "b", "a_sum", "a_count", "a_bucket", "b_total"}
	types := []string{"counter", "gauge", "summary", "histogram", "untyped", "gaugehistogram", "gauge_histogram"}
	if om {
		types = []string{"counter", "gauge", "summary", "histogram", "gaugehistogram", "unknown", "summary", "histogram", "counter"}
	}
	var b strings.Builder
	for range 1 + r.IntN(9) {
		base := bases[r.IntN(len(bases))]
		switch r.IntN(10) {
		case 0:
			b.WriteString("# TYPE " + base + " " + pick(types...) + "\n")
		case 1:
			b.WriteString("# HELP " + base + " " + pick("help", "", `x \\ \n`) + "\n")
		case 2:
			if om {
				b.WriteString("# UNIT " + base + " " + pick("", "sum", "count") + "\n")
			} else {
				b.WriteString(pick("# comment\n", "\n", "# TYPE "+base+"\n"))
			}
		default:
			name := base + pick("", "", "_sum", "_count", "_bucket", "_total", "_created", "_gsum", "_gcount")
			var labels []string
			for _, l := range r.Perm(4)[:r.IntN(4)] {
				switch l {
				case 0:
					labels = append(labels, `le="`+pick("1", "+Inf", "0.5", "1.0", "NaN", "-1")+`"`)
				case 1:
					labels = append(labels, `quantile="`+pick("0.5", "1", "0", "NaN", "2")+`"`)
				case 2:
					labels = append(labels, `x="`+pick("1", "2", `\\`)+`"`)
				case 3:
					labels = append(labels, `y="a"`)
				}
			}
			sep, sp := ",", " "
			if !om && r.IntN(4) == 0 {
				sep, sp = " , ", "\t "
			}
			b.WriteString(name)
			if len(labels) > 0 || r.IntN(3) == 0 {
				b.WriteString("{" + strings.Join(labels, sep) + "}")
			}
			b.WriteString(sp + pick("0", "1", "2", "2.5", "-1", "NaN", "+Inf", "-0", "1e3", "3", "0.5"))
			switch r.IntN(5) {
			case 0:
				b.WriteString(" 1")
			case 1:
				b.WriteString(" " + pick("2", "1.5", "-3"))
			}
			if om && r.IntN(6) == 0 {
				b.WriteString(" # {t=\"1\"} " + pick("1", "NaN"))
			}
			b.WriteString("\n")
		}
	}
	if om {
		b.WriteString("# EOF\n")
	}
	return b.String()
}

// TestRandomAgainstExpfmt compares with expfmt on bodies from randomBody.
func TestRandomAgainstExpfmt(t *testing.T) {
	for _, om := range []bool{false, true} {
		n := 20000
		if om {
			n = 1000 // expfmt's OpenMetrics parser is slow
		}
		if testing.Short() {
			n /= 10
		}
		r := rand.New(rand.NewPCG(1, 2))
		var p Parser
		both := 0
		for range n {
			if compareWithExpfmt(t, &p, []byte(randomBody(r, om)), om) {
				both++
			}
		}
		t.Logf("openMetrics=%v: %d of %d bodies accepted by both parsers and compared", om, both, n)
		if both < n/20 {
			t.Errorf("openMetrics=%v: only %d of %d bodies compared", om, both, n)
		}
	}
}
