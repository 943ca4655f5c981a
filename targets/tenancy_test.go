package targets

import "testing"

func TestTenancy(t *testing.T) {
	cases := []struct {
		ten       Tenancy
		labels    map[string]string
		org, team string
	}{
		{Tenancy{}, map[string]string{"org": "acme", "team": "red"}, "acme", "red"},
		{Tenancy{}, map[string]string{"team": "red"}, "default", "red"},
		{Tenancy{OrgLabel: "tenant", TeamLabel: "squad", DefaultOrg: "shared"}, map[string]string{"org": "acme", "squad": "x"}, "shared", "x"},
		{Tenancy{OrgLabel: "tenant"}, map[string]string{"tenant": "t1"}, "t1", ""},
	}
	for _, c := range cases {
		if org, team := c.ten.Of(c.labels); org != c.org || team != c.team {
			t.Errorf("%+v of %v: %q %q, want %q %q", c.ten, c.labels, org, team, c.org, c.team)
		}
	}
}

// TestTargetTenancy: a target gets its org and team once, when it is made.
func TestTargetTenancy(t *testing.T) {
	job := &ScrapeJob{Name: "pg", Tenancy: Tenancy{OrgLabel: "tenant"}}
	ts, err := buildTargets(job, KindStatic, &Group{Targets: []string{"h:1", "h:2"}, Labels: map[string]string{"tenant": "acme", "team": "red"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range ts {
		if tg.Org != "acme" || tg.Team != "red" {
			t.Errorf("%s: org %q team %q", tg.Collector, tg.Org, tg.Team)
		}
	}
}
