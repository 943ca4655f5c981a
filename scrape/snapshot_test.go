package scrape_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/scrape"
	"github.com/corral-dev/corral/scrape/expo"
	"github.com/corral-dev/corral/targets"
	"github.com/corral-dev/corral/targets/targetstest"
)

// TestSnapshotKeepsTheBody: the latest scrape keeps the body as sent —
// gzipped when it came so, several times smaller — and a reader gets the
// same samples from it as a parse of the body gives, over and over; an
// inflated body over body_size_limit fails as one sent uncompressed does.
func TestSnapshotKeepsTheBody(t *testing.T) {
	var text strings.Builder
	text.WriteString("# HELP m_total A counter.\n# TYPE m_total counter\n")
	for i := range 300 {
		fmt.Fprintf(&text, "m_total{i=\"%d\",path=\"/api/v1/things\"} %d\n", i, i*7)
	}
	body := text.String()
	var want expo.Parser
	if err := want.Parse([]byte(body), false, 0); err != nil {
		t.Fatal(err)
	}
	serve := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Write([]byte(body))
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		gz.Write([]byte(body))
		gz.Close()
	}
	srv := httptest.NewServer(http.HandlerFunc(serve))
	defer srv.Close()
	for _, tc := range []struct {
		name      string
		noGzip    bool
		limit     int64
		wantGzip  bool
		wantLimit bool
	}{
		{name: "gzip", wantGzip: true},
		{name: "plain", noGzip: true},
		{name: "gzip_over_limit", limit: int64(len(body) / 2), wantLimit: true},
		{name: "plain_over_limit", noGzip: true, limit: int64(len(body) / 2), wantLimit: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, scrape.JobConfig{Interval: time.Hour, Timeout: 2 * time.Second, DisableCompression: tc.noGzip, BodySizeLimit: tc.limit})
			tg := targetstest.FromURL(t, "a", srv.URL+"/metrics")
			h.m.Sync([]*targets.Target{tg})
			for range 3 {
				r, err := h.m.ScrapeNow(context.Background(), "a")
				if err != nil {
					t.Fatal(err)
				}
				if tc.wantLimit {
					if r.Reason != scrape.ReasonBodyLimit {
						t.Fatalf("reason %q (%v), want %s", r.Reason, r.Err, scrape.ReasonBodyLimit)
					}
					return
				}
				if r.Err != nil || r.Bytes != len(body) {
					t.Fatalf("scrape: %v, %d bytes, want %d", r.Err, r.Bytes, len(body))
				}
				held, ok := h.m.Latest("a")
				if !ok {
					t.Fatal("no snapshot")
				}
				n, gz := scrape.StoredLen(held)
				if gz != tc.wantGzip || (gz && n*3 > len(body)) || (!gz && n != len(body)) {
					t.Errorf("stored %d bytes, gzip %v; body %d bytes, want gzip %v", n, gz, len(body), tc.wantGzip)
				}
				got := held.Samples()
				if len(got) != len(want.Samples()) || len(held.Families()) != 1 {
					t.Fatalf("%d samples, %d families; want %d, 1", len(got), len(held.Families()), len(want.Samples()))
				}
				for i, s := range want.Samples() {
					if !bytes.Equal(got[i].Name, s.Name) || !bytes.Equal(got[i].Labels, s.Labels) || got[i].Value != s.Value || got[i].Family != s.Family {
						t.Fatalf("sample %d: %s{%s} %v, want %s{%s} %v", i, got[i].Name, got[i].Labels, got[i].Value, s.Name, s.Labels, s.Value)
					}
				}
				held.Release()
			}
		})
	}
}
