package api

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/corral-dev/corral/api/wire"
)

// TestListJSONMatches checks that appendList writes what json.Encoder writes
// for the answers of GET /collectors, on rows with every kind of text, number
// and time the fields can hold.
func TestListJSONMatches(t *testing.T) {
	texts := []string{"", "plain", "sim-0001", `quo"te`, `back\slash`, "<b>bold</b>", "a<b", "a>b", "a&b", "tab\tnew\nline\r", "\x00\x01\x1f\x7f",
		"été", "日本", "😀", "\u2028\u2029", "bad\xffutf8", "\xc3", "\ufffd", "/slash/", "'single'"}
	floats := []float64{0, math.Copysign(0, -1), 1, -1, 0.5, 1.0 / 3, 123.456, 1e-6, 9.99e-7, 1e-7, 1e20, 1e21, 1.5e21, -2.5e-9,
		math.MaxFloat64, math.SmallestNonzeroFloat64, 50e6, 12345678901234567890}
	zone := time.FixedZone("x", 5*3600+30*60)
	times := []time.Time{time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), time.Date(2026, 12, 4, 19, 7, 36, 123456789, time.UTC),
		time.Date(2026, 12, 4, 19, 7, 36, 120000000, zone), time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)}
	rnd := rand.New(rand.NewPCG(1, 2))
	text := func() string { return texts[rnd.IntN(len(texts))] }
	fl := func() *float64 {
		if rnd.IntN(4) == 0 {
			return nil
		}
		f := floats[rnd.IntN(len(floats))]
		return &f
	}
	tm := func() *time.Time {
		if rnd.IntN(4) == 0 {
			return nil
		}
		v := times[rnd.IntN(len(times))]
		return &v
	}
	var rows []wire.Collector
	for range 2000 {
		c := wire.Collector{ID: text(), Status: text(), Reason: text(), StatusSince: tm(), Job: text(), Instance: text(),
			Org: text(), Team: text(), Provider: text(), Up: rnd.IntN(2) == 0, LastSeen: tm(),
			Freshness: fl(), Completeness1h: fl(), Completeness24h: fl(), CPU: fl(), Memory: fl(), Items: fl(), Group: text()}
		switch rnd.IntN(3) {
		case 0: // nil labels and tags
		case 1:
			c.Labels, c.Tags = map[string]string{}, []string{}
		default:
			c.Labels = map[string]string{}
			for range rnd.IntN(40) {
				c.Labels[text()+text()] = text()
			}
			for range 1 + rnd.IntN(3) {
				c.Tags = append(c.Tags, text())
			}
		}
		rows = append(rows, c)
	}
	lists := []wire.CollectorList{
		{}, // nil data
		{Data: []wire.Collector{}, Page: 3, Limit: 50, Summary: wire.Summary{ByStatus: map[string]int{}}},
		{Data: rows, Page: 1, Limit: 1000, Total: 10004, TotalPages: 11,
			Summary: wire.Summary{Total: 10004, ByStatus: map[string]int{"online": 3, "offline": 10001}, ItemsCollected: 1.5e22},
			Groups:  []wire.Group{{Key: "<x>", Count: 2}, {Key: "", Count: 1}}},
	}
	for i, l := range lists {
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(l); err != nil {
			t.Fatal(err)
		}
		got, ok := appendList(nil, &l)
		if !ok {
			t.Fatalf("list %d: appendList refused it", i)
		}
		if !bytes.Equal(got, want.Bytes()) {
			n := 0
			for n < len(got) && n < want.Len() && got[n] == want.Bytes()[n] {
				n++
			}
			t.Fatalf("list %d differs at byte %d:\n got …%.200s\nwant …%.200s", i, n, got[max(0, n-100):], want.Bytes()[max(0, n-100):])
		}
	}
}

// TestWriteListFallsBack checks that what appendList cannot write is answered
// by writeJSON, byte for byte: a NaN, a time past year 9999.
func TestWriteListFallsBack(t *testing.T) {
	nan, far := math.NaN(), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []wire.Collector{{CPU: &nan}, {LastSeen: &far}} {
		l := wire.CollectorList{Data: []wire.Collector{c}}
		if _, ok := appendList(nil, &l); ok {
			t.Errorf("appendList wrote %+v", c)
		}
		got, want := httptest.NewRecorder(), httptest.NewRecorder()
		writeList(got, &l)
		writeJSON(want, 200, &l)
		if got.Code != want.Code || got.Body.String() != want.Body.String() {
			t.Errorf("writeList: %d %q, writeJSON: %d %q", got.Code, got.Body, want.Code, want.Body)
		}
	}
}
