package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/health"
	"github.com/corral-dev/corral/store"
)

// peopleFixture is the API with the people routes over a real store holding
// the users of openStore and three more: member (viewer of acme/blue, which
// the org admin manages), globexer (viewer of globex, which it cannot see) and
// mixed (bound in acme and globex, which it sees but does not manage).
func peopleFixture(t testing.TB, st *store.Store, tokens map[string]string) http.Handler {
	t.Helper()
	ctx := context.Background()
	for name, bs := range map[string][]store.RoleBinding{
		"member":   {{Role: store.RoleViewer, Org: "acme", Team: "blue"}},
		"globexer": {{Role: store.RoleViewer, Org: "globex"}},
		"mixed":    {{Role: store.RoleViewer, Org: "acme"}, {Role: store.RoleViewer, Org: "globex"}},
	} {
		if _, err := st.CreateUser(ctx, store.User{Username: name, PasswordHash: "unused"}, bs...); err != nil {
			t.Fatal(err)
		}
	}
	a := auth.New(st, auth.Options{Audit: st, HashMemoryKiB: 64, HashTime: 1})
	return New(Options{Fleet: health.NewEvaluator(health.Options{}), Auth: a, People: st, Audit: st, AuditLog: st})
}

// TestRBACPeopleMatrix sends every people route as every role, each on a
// fresh store, and checks the status; every refusal is the one error shape.
func TestRBACPeopleMatrix(t *testing.T) {
	type want [5]int // super, orgadmin, lead, viewer, norole
	cases := []struct {
		method, path, body string
		want               want
	}{
		{"GET", "/api/v1/users", "", want{200, 200, 403, 403, 403}},
		{"POST", "/api/v1/users", `{"username":"new","password":"long enough pw","bindings":[{"role":"viewer","org":"acme","team":"red"}]}`, want{201, 201, 403, 403, 403}},
		{"POST", "/api/v1/users", `{"username":"new","bindings":[{"role":"viewer","org":"globex"}]}`, want{201, 403, 403, 403, 403}},
		{"POST", "/api/v1/users", `{"username":"new","bindings":[{"role":"super_admin"}]}`, want{201, 403, 403, 403, 403}},
		{"GET", "/api/v1/users/member", "", want{200, 200, 404, 404, 404}},
		{"GET", "/api/v1/users/globexer", "", want{200, 404, 404, 404, 404}},
		{"GET", "/api/v1/users/mixed", "", want{200, 200, 404, 404, 404}},
		{"PATCH", "/api/v1/users/member", `{"display_name":"Mem Ber"}`, want{200, 200, 404, 404, 404}},
		{"PATCH", "/api/v1/users/mixed", `{"disabled":true}`, want{200, 403, 404, 404, 404}},
		{"DELETE", "/api/v1/users/member", "", want{204, 204, 404, 404, 404}},
		{"DELETE", "/api/v1/users/mixed", "", want{204, 403, 404, 404, 404}},
		{"POST", "/api/v1/users/member/disable", "", want{200, 200, 404, 404, 404}},
		{"POST", "/api/v1/users/member/enable", "", want{200, 200, 404, 404, 404}},
		{"POST", "/api/v1/users/member/reset-password", "", want{200, 200, 404, 404, 404}},
		{"GET", "/api/v1/users/member/bindings", "", want{200, 200, 404, 404, 404}},
		{"POST", "/api/v1/users/member/bindings", `{"role":"team_lead","org":"acme","team":"red"}`, want{201, 201, 403, 403, 403}},
		{"POST", "/api/v1/users/member/bindings", `{"role":"super_admin"}`, want{201, 403, 403, 403, 403}},
		{"DELETE", "/api/v1/users/member/bindings?role=viewer&org=acme&team=blue", "", want{204, 204, 404, 404, 404}},
		{"GET", "/api/v1/bindings", "", want{200, 200, 403, 403, 403}},
		{"POST", "/api/v1/me/password", `{"old_password":"wrong one","new_password":"a new password"}`, want{403, 403, 403, 403, 403}},
		{"GET", "/api/v1/orgs", "", want{200, 200, 200, 200, 200}},
		{"POST", "/api/v1/orgs", `{"id":"initech","name":"Initech"}`, want{201, 403, 403, 403, 403}},
		{"GET", "/api/v1/orgs/acme", "", want{200, 200, 200, 200, 404}},
		{"GET", "/api/v1/orgs/globex", "", want{200, 404, 404, 404, 404}},
		{"PATCH", "/api/v1/orgs/acme", `{"name":"Acme Corp"}`, want{200, 200, 403, 403, 404}},
		{"DELETE", "/api/v1/orgs/acme", "", want{204, 403, 403, 403, 403}},
		{"GET", "/api/v1/orgs/acme/teams", "", want{200, 200, 200, 200, 404}},
		{"POST", "/api/v1/orgs/acme/teams", `{"id":"green"}`, want{201, 201, 403, 403, 404}},
		{"GET", "/api/v1/orgs/acme/teams/red", "", want{200, 200, 200, 200, 404}},
		{"PATCH", "/api/v1/orgs/acme/teams/red", `{"name":"Reds"}`, want{200, 200, 403, 403, 404}},
		{"DELETE", "/api/v1/orgs/acme/teams/red", "", want{204, 204, 403, 403, 404}},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.method+" "+routeOf(c.path)] = true
		for i, user := range users {
			t.Run(c.method+" "+c.path+" as "+user, func(t *testing.T) {
				st, tokens := openStore(t)
				h := peopleFixture(t, st, tokens)
				code, body := send(t, h, tokens[user], c.method, c.path, c.body)
				if code != c.want[i] {
					t.Fatalf("%d, want %d: %s", code, c.want[i], body)
				}
				if code >= 400 {
					var e wire.Error
					if err := json.Unmarshal([]byte(body), &e); err != nil || e.Code == "" || e.Message == "" {
						t.Fatalf("error body %q", body)
					}
				}
				if c.method == "GET" && code == 200 && user == uOrgAdmin && strings.Contains(body, "globex") {
					t.Fatalf("the org admin of acme sees globex: %s", body)
				}
			})
		}
	}
	// Every people route of api.go is in the matrix.
	a := &api{}
	for _, rt := range a.routes() {
		m, p, _ := strings.Cut(rt.pattern, " ")
		if isPeopleRoute(p) && !covered[m+" "+p] {
			t.Errorf("route %s is not in the matrix", rt.pattern)
		}
	}
	// Without credentials, every one is a 401.
	st, tokens := openStore(t)
	h := peopleFixture(t, st, tokens)
	for _, c := range cases {
		if code, body := send(t, h, "", c.method, c.path, c.body); code != http.StatusUnauthorized {
			t.Errorf("%s %s without credentials: %d %s", c.method, c.path, code, body)
		}
	}
}

func isPeopleRoute(p string) bool {
	for _, pre := range []string{"/api/v1/users", "/api/v1/bindings", "/api/v1/me/password", "/api/v1/orgs"} {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}

// routeOf turns a request path into the pattern of its route.
func routeOf(path string) string {
	path, _, _ = strings.Cut(path, "?")
	parts := strings.Split(strings.TrimPrefix(path, "/api/v1/"), "/")
	switch {
	case parts[0] == "users" && len(parts) > 1:
		parts[1] = "{id}"
	case parts[0] == "orgs" && len(parts) > 1:
		parts[1] = "{org}"
		if len(parts) > 3 {
			parts[3] = "{team}"
		}
	}
	return "/api/v1/" + strings.Join(parts, "/")
}

// TestPeopleRules: nobody raises its own role or grants one above its own, the
// last super admin stays, and unknown parameters are named.
func TestPeopleRules(t *testing.T) {
	st, tokens := openStore(t)
	h := peopleFixture(t, st, tokens)
	for _, c := range []struct {
		user, method, path, body string
		code                     int
		msg                      string
	}{
		{uOrgAdmin, "POST", "/api/v1/users/orgadmin/bindings", `{"role":"team_lead","org":"acme"}`, 403, "raise their own role"},
		{uOrgAdmin, "POST", "/api/v1/users/orgadmin/bindings", `{"role":"org_admin","org":"globex"}`, 403, "above their own"},
		{uOrgAdmin, "POST", "/api/v1/users/member/bindings", `{"role":"super_admin"}`, 403, "above their own"},
		{uLead, "POST", "/api/v1/users/lead/bindings", `{"role":"org_admin","org":"acme"}`, 403, "org_admin and super_admin"},
		{uOrgAdmin, "POST", "/api/v1/users/member/bindings", `{"role":"org_admin"}`, 400, "takes an org"},
		{uOrgAdmin, "POST", "/api/v1/users", `{"username":"x"}`, 400, "at least one role"},
		{uSuper, "POST", "/api/v1/users", `{"username":"bad name"}`, 400, "username"},
		{uSuper, "POST", "/api/v1/users", `{"username":"short","password":"1234567"}`, 400, "8 to 1024 bytes"},
		{uSuper, "POST", "/api/v1/users", `{"username":"member"}`, 409, "already exists"},
		{uSuper, "POST", "/api/v1/users", `{"username":"x","role":"super_admin"}`, 400, "unknown field"},
		{uSuper, "DELETE", "/api/v1/users/super", "", 409, "last enabled super admin"},
		{uSuper, "POST", "/api/v1/users/super/disable", "", 409, "last enabled super admin"},
		{uSuper, "PATCH", "/api/v1/users/super", `{"disabled":true}`, 409, "last enabled super admin"},
		{uSuper, "DELETE", "/api/v1/users/super/bindings?role=super_admin", "", 409, "last enabled super admin"},
		{uSuper, "GET", "/api/v1/users?role=viewer", "", 400, "invalid parameter role"},
		{uSuper, "GET", "/api/v1/orgs?x=1", "", 400, "invalid parameter x"},
		{uViewer, "PATCH", "/api/v1/users/viewer", `{"display_name":"Vi"}`, 200, `"display_name":"Vi"`},
		{uViewer, "PATCH", "/api/v1/users/viewer", `{"disabled":true}`, 403, "may not manage"},
		{uViewer, "GET", "/api/v1/users/viewer", "", 200, `"role":"viewer"`},
	} {
		code, body := send(t, h, tokens[c.user], c.method, c.path, c.body)
		if code != c.code || !strings.Contains(body, c.msg) {
			t.Errorf("%s %s %s as %s: %d %s, want %d with %q", c.method, c.path, c.body, c.user, code, body, c.code, c.msg)
		}
	}
	// The super admin stays one, enabled.
	u, _ := st.UserByUsername(context.Background(), uSuper)
	if bs, _ := st.Bindings(context.Background(), u.ID); u.Disabled() || len(bs) != 1 {
		t.Fatalf("super after the refusals: %+v %+v", u, bs)
	}
}
