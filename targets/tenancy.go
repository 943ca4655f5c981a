package targets

// Tenancy says which org and team a collector belongs to: the values of two of
// its target labels, else the default org. Every collector gets its Org and
// Team from it once, when its Target is made; nothing downstream reads the
// labels again.
type Tenancy struct {
	OrgLabel   string `yaml:"org_label"`   // default "org"
	TeamLabel  string `yaml:"team_label"`  // default "team"
	DefaultOrg string `yaml:"default_org"` // default "default"
}

// DefaultTenancy is the tenancy of a server configured with none.
var DefaultTenancy = Tenancy{OrgLabel: "org", TeamLabel: "team", DefaultOrg: "default"}

// WithDefaults fills the fields t leaves empty from DefaultTenancy.
func (t Tenancy) WithDefaults() Tenancy {
	if t.OrgLabel == "" {
		t.OrgLabel = DefaultTenancy.OrgLabel
	}
	if t.TeamLabel == "" {
		t.TeamLabel = DefaultTenancy.TeamLabel
	}
	if t.DefaultOrg == "" {
		t.DefaultOrg = DefaultTenancy.DefaultOrg
	}
	return t
}

// Of returns the org and team of a collector with these target labels.
func (t Tenancy) Of(labels map[string]string) (org, team string) {
	t = t.WithDefaults()
	org = labels[t.OrgLabel]
	if org == "" {
		org = t.DefaultOrg
	}
	return org, labels[t.TeamLabel]
}
