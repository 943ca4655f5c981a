package auth

import (
	"context"
	"fmt"
	"testing"
)

// TestScopeMatrix checks CanRead, CanAct and CanAdmin for every role, bound to
// the whole org or to one team, against collectors in and out of its org and
// team.
func TestScopeMatrix(t *testing.T) {
	type target struct{ org, team string }
	var (
		ownTeam   = target{"acme", "web"}
		otherTeam = target{"acme", "db"}
		noTeam    = target{"acme", ""}
		otherOrg  = target{"zeta", "web"} // same team name, other org
		noOrg     = target{"", ""}
	)
	targets := []target{ownTeam, otherTeam, noTeam, otherOrg, noOrg}
	type want struct{ read, act bool }
	for _, tc := range []struct {
		name     string
		bindings []Binding
		want     map[target]want
		admin    map[string]bool // org → CanAdmin
	}{
		{
			name:     "super_admin",
			bindings: []Binding{{Role: SuperAdmin}},
			want:     map[target]want{ownTeam: {true, true}, otherTeam: {true, true}, noTeam: {true, true}, otherOrg: {true, true}, noOrg: {true, true}},
			admin:    map[string]bool{"acme": true, "zeta": true, "": true},
		},
		{
			name:     "org_admin",
			bindings: []Binding{{Role: OrgAdmin, Org: "acme"}},
			want:     map[target]want{ownTeam: {true, true}, otherTeam: {true, true}, noTeam: {true, true}},
			admin:    map[string]bool{"acme": true},
		},
		{
			name:     "team_lead of the org",
			bindings: []Binding{{Role: TeamLead, Org: "acme"}},
			want:     map[target]want{ownTeam: {true, true}, otherTeam: {true, true}, noTeam: {true, true}},
		},
		{
			name:     "team_lead of a team",
			bindings: []Binding{{Role: TeamLead, Org: "acme", Team: "web"}},
			want:     map[target]want{ownTeam: {true, true}},
		},
		{
			name:     "viewer of the org",
			bindings: []Binding{{Role: Viewer, Org: "acme"}},
			want:     map[target]want{ownTeam: {true, false}, otherTeam: {true, false}, noTeam: {true, false}},
		},
		{
			name:     "viewer of a team",
			bindings: []Binding{{Role: Viewer, Org: "acme", Team: "web"}},
			want:     map[target]want{ownTeam: {true, false}},
		},
		{
			name: "no binding",
		},
		{
			name:     "viewer of the org and team_lead of a team",
			bindings: []Binding{{Role: Viewer, Org: "acme"}, {Role: TeamLead, Org: "acme", Team: "web"}},
			want:     map[target]want{ownTeam: {true, true}, otherTeam: {true, false}, noTeam: {true, false}},
		},
		{
			name:     "unknown role",
			bindings: []Binding{{Role: "root", Org: "acme"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Principal{UserID: "u", Username: "u", Bindings: tc.bindings}
			for _, tg := range targets {
				w := tc.want[tg]
				if got := p.CanRead(tg.org, tg.team); got != w.read {
					t.Errorf("CanRead(%q, %q) = %v, want %v", tg.org, tg.team, got, w.read)
				}
				if got := p.CanAct(tg.org, tg.team); got != w.act {
					t.Errorf("CanAct(%q, %q) = %v, want %v", tg.org, tg.team, got, w.act)
				}
			}
			for _, org := range []string{"acme", "zeta", ""} {
				if got := p.CanAdmin(org); got != tc.admin[org] {
					t.Errorf("CanAdmin(%q) = %v, want %v", org, got, tc.admin[org])
				}
			}
		})
	}

	var nilP *Principal
	if nilP.CanRead("acme", "web") || nilP.CanAct("acme", "web") || nilP.CanAdmin("acme") {
		t.Error("a nil principal may do something")
	}
}

func TestContext(t *testing.T) {
	ctx := context.Background()
	if p, ok := FromContext(ctx); ok || p != nil {
		t.Fatalf("FromContext(empty) = %v, %v", p, ok)
	}
	want := &Principal{UserID: "u1"}
	if p, ok := FromContext(WithPrincipal(ctx, want)); !ok || p != want {
		t.Fatalf("FromContext = %v, %v", p, ok)
	}
	if _, ok := FromContext(WithPrincipal(ctx, nil)); ok {
		t.Fatal("FromContext reports a nil principal")
	}
}

func ExamplePrincipal_CanAct() {
	p := &Principal{Username: "lena", Bindings: []Binding{{Role: TeamLead, Org: "acme", Team: "web"}, {Role: Viewer, Org: "acme"}}}
	fmt.Println(p.CanRead("acme", "db"), p.CanAct("acme", "db"), p.CanAct("acme", "web"), p.CanAdmin("acme"))
	// Output: true false true false
}
