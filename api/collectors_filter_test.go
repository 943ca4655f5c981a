package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/corral-dev/corral/api/wire"
)

// TestCollectorsGroupTagFilters: group= and tag= (repeatable, every tag must
// match) filter by the group and tags collectors were given through the
// control plane, group_by=group counts them, and an unknown parameter is a 400
// naming it (it used to be ignored, returning everything).
func TestCollectorsGroupTagFilters(t *testing.T) {
	h, tokens, _ := controlFixture(t)
	tok := tokens[uSuper]
	for id, body := range map[string]string{
		"acme-red-1":  `{"group":"eu","tags":["pg","prod"]}`,
		"acme-blue-1": `{"group":"eu","tags":["pg"]}`,
		"globex-1":    `{"group":"us","tags":["prod"]}`,
	} {
		if code, out := send(t, h, tok, "POST", "/api/v1/collectors/"+id+"/update-config", `{"config":{},`+strings.TrimPrefix(body, "{")); code >= 300 {
			t.Fatalf("update-config %s: %d %s", id, code, out)
		}
	}
	ids := func(q string) ([]string, wire.CollectorList) {
		t.Helper()
		code, body, _ := do(t, h, tok, "/api/v1/collectors?"+q)
		if code != http.StatusOK {
			t.Fatalf("?%s: %d %s", q, code, body)
		}
		var l wire.CollectorList
		if err := json.Unmarshal([]byte(body), &l); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range l.Data {
			out = append(out, c.ID)
		}
		slices.Sort(out)
		return out, l
	}
	for _, c := range []struct {
		q    string
		want []string
	}{
		{"group=eu", []string{"acme-blue-1", "acme-red-1"}},
		{"group=us&group=eu", []string{"acme-blue-1", "acme-red-1", "globex-1"}},
		{"group=", []string{"nolabel-1"}},
		{"tag=prod", []string{"acme-red-1", "globex-1"}},
		{"tag=prod&tag=pg", []string{"acme-red-1"}},
		{"tag=pg,prod", []string{"acme-red-1"}},
		{"group=us&tag=pg", nil},
		{"tag=nope", nil},
	} {
		if got, _ := ids(c.q); !slices.Equal(got, c.want) {
			t.Errorf("?%s: %v, want %v", c.q, got, c.want)
		}
	}
	_, l := ids("group_by=group")
	if !slices.Equal(l.Groups, []wire.Group{{Key: "", Count: 1}, {Key: "eu", Count: 2}, {Key: "us", Count: 1}}) {
		t.Errorf("group_by=group: %+v", l.Groups)
	}
	// The org admin of acme counts only its own.
	code, body, _ := do(t, h, tokens[uOrgAdmin], "/api/v1/collectors?group_by=group&tag=prod")
	if code != 200 || strings.Contains(body, "globex") || !strings.Contains(body, `"total":1`) {
		t.Errorf("org admin: %d %s", code, body)
	}
	for _, q := range []string{"environment=prod", "tags=pg", "Group=eu"} {
		name, _, _ := strings.Cut(q, "=")
		code, body, _ := do(t, h, tok, "/api/v1/collectors?"+q)
		var e wire.Error
		if code != http.StatusBadRequest || json.Unmarshal([]byte(body), &e) != nil || e.Code != wire.CodeBadRequest ||
			e.Details["field"] != name || !strings.Contains(e.Message, name) {
			t.Errorf("?%s: %d %s, want a 400 naming %s", q, code, body, name)
		}
	}
	for _, path := range []string{"/api/v1/commands?colector=x", "/api/v1/audit?who=x", "/api/v1/users?x=1", "/api/v1/orgs?x=1"} {
		if code, body, _ := do(t, h, tok, path); code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", path, code, body)
		}
	}
}
