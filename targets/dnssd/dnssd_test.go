package dnssd

import (
	"context"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"gopkg.in/yaml.v3"

	"github.com/corral-dev/corral/targets"
)

// dnsServer is a real DNS server on loopback (UDP) answering from records the
// test sets, and a resolver that asks only it.
type dnsServer struct {
	mu      sync.Mutex
	records map[string][]dns.RR // by "name type"
	fail    bool                // answer SERVFAIL
	addr    string
}

func startDNS(t *testing.T) *dnsServer {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dnsServer{records: map[string][]dns.RR{}, addr: pc.LocalAddr().String()}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		s.mu.Lock()
		defer s.mu.Unlock()
		q := r.Question[0]
		key := strings.ToLower(q.Name) + " " + dns.TypeToString[q.Qtype]
		switch rrs, ok := s.records[key]; {
		case s.fail:
			m.Rcode = dns.RcodeServerFailure
		case ok:
			m.Answer = rrs
		default:
			known := false
			for k := range s.records {
				known = known || strings.HasPrefix(k, strings.ToLower(q.Name)+" ")
			}
			if !known {
				m.Rcode = dns.RcodeNameError
			}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return s
}

func (s *dnsServer) set(rr ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = map[string][]dns.RR{}
	for _, r := range rr {
		x, err := dns.NewRR(r)
		if err != nil {
			panic(err)
		}
		h := x.Header()
		key := strings.ToLower(h.Name) + " " + dns.TypeToString[h.Rrtype]
		s.records[key] = append(s.records[key], x)
	}
}

func (s *dnsServer) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", s.addr)
	}}
}

func run(t *testing.T, y string, r *net.Resolver) (*Discovery, chan []*targets.Group) {
	t.Helper()
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(y))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d := New("j", cfg, r, slog.New(slog.DiscardHandler), nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	up := make(chan []*targets.Group, 100)
	go d.Run(ctx, up)
	return d, up
}

// state applies updates to a map of source → group, as the Manager does.
func waitState(t *testing.T, up chan []*targets.Group, state map[string]*targets.Group, done func() bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for !done() {
		select {
		case gs := <-up:
			for _, g := range gs {
				if len(g.Targets) == 0 {
					delete(state, g.Source)
				} else {
					state[g.Source] = g
				}
			}
		case <-deadline:
			t.Fatalf("state never got there: %v", state)
		}
	}
}

func addrs(state map[string]*targets.Group) []string {
	var out []string
	for _, g := range state {
		out = append(out, g.Targets...)
	}
	slices.Sort(out)
	return out
}

// TestSRV resolves SRV records against a real DNS server: targets with
// Prometheus's labels, a record removed, a failing server that keeps the last
// targets, and a name that stops existing.
func TestSRV(t *testing.T) {
	s := startDNS(t)
	s.set("_pg._tcp.corral.test. 60 IN SRV 10 5 9187 db1.corral.test.", "_pg._tcp.corral.test. 60 IN SRV 10 5 9188 db2.corral.test.")
	d, up := run(t, "names: ['_pg._tcp.corral.test.']\nrefresh_interval: 50ms\n", s.resolver())
	state := map[string]*targets.Group{}
	waitState(t, up, state, func() bool {
		return slices.Equal(addrs(state), []string{"db1.corral.test:9187", "db2.corral.test:9188"})
	})
	for _, g := range state {
		if g.Labels[LabelName] != "_pg._tcp.corral.test." || !strings.HasSuffix(g.Labels[LabelSRVTarget], ".corral.test.") || g.Labels[LabelSRVPort] == "" {
			t.Errorf("labels %v", g.Labels)
		}
	}
	s.set("_pg._tcp.corral.test. 60 IN SRV 10 5 9187 db1.corral.test.")
	waitState(t, up, state, func() bool { return slices.Equal(addrs(state), []string{"db1.corral.test:9187"}) })

	s.mu.Lock()
	s.fail = true
	s.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(d.metrics.failures.WithLabelValues("j")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no failed lookup counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(150 * time.Millisecond)
	for len(up) > 0 {
		<-up // whatever came, state must not change below
	}
	if !slices.Equal(addrs(state), []string{"db1.corral.test:9187"}) {
		t.Errorf("targets changed while the DNS server failed: %v", addrs(state))
	}
	s.mu.Lock()
	s.fail = false
	s.mu.Unlock()
	s.set("other.corral.test. 60 IN A 10.0.0.1") // the SRV name is gone: NXDOMAIN
	waitState(t, up, state, func() bool { return len(state) == 0 })
}

// TestA looks up A records with the configured port.
func TestA(t *testing.T) {
	s := startDNS(t)
	s.set("web.corral.test. 60 IN A 10.0.0.7", "web.corral.test. 60 IN A 10.0.0.8")
	_, up := run(t, "names: [web.corral.test.]\ntype: a\nport: 9100\nrefresh_interval: 1h\n", s.resolver())
	state := map[string]*targets.Group{}
	waitState(t, up, state, func() bool { return slices.Equal(addrs(state), []string{"10.0.0.7:9100", "10.0.0.8:9100"}) })
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range []struct{ y, err string }{
		{"names: [_x._tcp.example.org]", ""},
		{"names: []", "at least one name"},
		{"names: [a.example.org]\ntype: A", "a port from 1 to 65535 is required for type A"},
		{"names: [a.example.org]\ntype: TXT\nport: 1", `type "TXT"`},
		{"names: [a]\nrefresh_interval: 0s", "must be positive"},
	} {
		var c Config
		if err := yaml.Unmarshal([]byte(tt.y), &c); err != nil {
			t.Fatal(err)
		}
		err := c.Validate()
		if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%q: %v, want %q", tt.y, err, tt.err)
		}
		if tt.err == "" && (c.Type != "SRV" || c.RefreshInterval != DefaultRefreshInterval) {
			t.Errorf("defaults: %+v", c)
		}
	}
}
