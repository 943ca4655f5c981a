package server

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/corral-dev/corral/exporter/synthetic"
)

// loopbackDNS is a real DNS server on loopback (UDP) that answers one A
// record, SERVFAIL, or NXDOMAIN, as the test sets it.
type loopbackDNS struct {
	mu     sync.Mutex
	answer string // "a", "servfail" or "nxdomain"
	ip     net.IP
	addr   string
}

func startLoopbackDNS(t *testing.T, name string, ip net.IP) *loopbackDNS {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &loopbackDNS{answer: "a", ip: ip, addr: pc.LocalAddr().String()}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		s.mu.Lock()
		answer := s.answer
		s.mu.Unlock()
		q := r.Question[0]
		switch {
		case answer == "servfail":
			m.Rcode = dns.RcodeServerFailure
		case answer == "nxdomain" || !strings.EqualFold(q.Name, name):
			m.Rcode = dns.RcodeNameError
		case q.Qtype == dns.TypeA:
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: s.ip}}
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return s
}

func (s *loopbackDNS) set(answer string) {
	s.mu.Lock()
	s.answer = answer
	s.mu.Unlock()
}

func (s *loopbackDNS) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", s.addr)
	}}
}

// TestDNSSDConsumer: a dns_sd_configs job of the real server, resolved
// against a DNS server on loopback, scrapes the agent the A record names,
// with __meta_dns_name (the name as configured) for relabelling; a failing DNS server keeps the
// target; a name that stops existing removes it.
func TestDNSSDConsumer(t *testing.T) {
	addr := agent(t, "via-dns", synthetic.Config{Rate: 10, Series: 2}, nil)
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	d := startLoopbackDNS(t, "agents.corral.test.", net.ParseIP(host))
	dir := t.TempDir()
	cfg := filepath.Join(dir, "corral.yml")
	writeFile(t, cfg, fmt.Sprintf(`global: {scrape_interval: 200ms, scrape_timeout: 150ms}
scrape_configs:
  - job_name: dns
    dns_sd_configs: [{names: [agents.corral.test], type: A, port: %s, refresh_interval: 100ms}]
    relabel_configs:
      - {target_label: collector, replacement: via-dns}
      - {source_labels: [__meta_dns_name], target_label: dns_name}
`, port))
	srv := startServer(t, cfg, "sqlite:"+filepath.Join(dir, "corral.db"), func(o *Options) { o.DNSResolver = d.resolver() })
	body := waitStatuses(t, srv.base, 20*time.Second, map[string]string{"via-dns": "online"})
	want := `corral_collector_up{collector="via-dns",dns_name="agents.corral.test",instance="` + addr + `",job="dns"} 1`
	if !strings.Contains(body, want) {
		t.Fatalf("no %s in:\n%s", want, grep(body, "corral_collector_up{", ""))
	}

	// SERVFAIL: the last good targets stay, and the collector stays online.
	d.set("servfail")
	time.Sleep(time.Second) // ten refreshes
	body = waitStatuses(t, srv.base, 5*time.Second, map[string]string{"via-dns": "online"})
	if !strings.Contains(body, want) {
		t.Errorf("the target went with the DNS server's failure:\n%s", grep(body, "corral_collector_up{", ""))
	}
	if f := counter(t, body, `corral_sd_dns_lookup_failures_total{job="dns"}`); f < 5 {
		t.Errorf("%v failed lookups counted in a second of SERVFAIL at 100ms refreshes", f)
	}

	// NXDOMAIN: the name is gone, so is the target.
	d.set("nxdomain")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, m := get(t, srv.base+"/metrics")
		if !strings.Contains(m, `collector="via-dns"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("via-dns still served after its name stopped existing:\n%s", grep(m, "corral_collector_up{", ""))
		}
	}
}

// counter is the value of the series written exactly as series in body.
func counter(t *testing.T, body, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no %s in /metrics", series)
	return 0
}
