package expo
import ("testing";"os";"path/filepath";"strings";"strconv")
func TestCorpusStats(t *testing.T){
 dir := os.Getenv("CACHEDIR"); if dir == "" { t.Skip() }
 files, _ := filepath.Glob(dir+"/*")
 var n, both, ours, theirs [2]int
 var p Parser
 for _, f := range files {
  b, _ := os.ReadFile(f)
  lines := strings.Split(string(b), "\n"); if len(lines) < 3 { continue }
  data, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
  if err != nil { continue }
  om := strings.Contains(lines[2], "true")
  i := 0; if om { i = 1 }
  n[i]++
  e1 := p.Parse([]byte(data), om, 0)
  _, e2 := expfmtParse([]byte(data), om)
  if e1 == nil && e2 == nil { both[i]++ } else if e1 == nil { ours[i]++; t.Logf("only ours: %q", data) } else if e2 == nil { theirs[i]++; if len(data) < 30000 { t.Logf("only expfmt (%v): %q", e1, data) } }
 }
 t.Logf("inputs %v both %v only-ours %v only-expfmt %v", n, both, ours, theirs)
}
