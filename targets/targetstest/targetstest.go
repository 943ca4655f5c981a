// Package targetstest makes targets for tests of the packages that scrape and
// evaluate them, without a discovery run.
package targetstest

import (
	"net/url"
	"testing"

	"github.com/corral-dev/corral/targets"
)

// FromURL is the static target name of job "test" scraped at rawURL, with the
// labels discovery would give it and the default tenancy.
func FromURL(t testing.TB, name, rawURL string) *targets.Target {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"collector": name, "job": "test", "instance": u.Host}
	org, team := targets.DefaultTenancy.Of(labels)
	return &targets.Target{Collector: name, Job: "test", ScrapeJob: "test", Instance: u.Host, URL: rawURL,
		Labels: labels, Meta: map[string]string{targets.LabelAddress: u.Host}, Org: org, Team: team,
		Provider: targets.KindStatic, Hash: uint64(len(name)) * 7919, HonorTimestamps: true}
}
