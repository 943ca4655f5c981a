package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// selfSigned writes a certificate for 127.0.0.1 and its key into dir and
// returns a pool that trusts it.
func selfSigned(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "corral-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	writeFile(t, filepath.Join(dir, "cert.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFile(t, filepath.Join(dir, "key.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})))
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

func bcryptHash(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// startTLS runs the server with opts until the test ends and returns its
// https:// base once it is ready.
func startTLS(t *testing.T, o Options, client *http.Client) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	o.ListenAddress, o.Logger = "127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil))
	o.Listening = func(a net.Addr) { addr <- a }
	go func() { done <- Run(ctx, o) }()
	t.Cleanup(func() { cancel(); <-done })
	var base string
	select {
	case a := <-addr:
		base = "https://" + a.String()
	case err := <-done:
		t.Fatalf("server did not start: %v", err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := client.Get(base + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("server not ready within 30s")
		}
	}
}

// TestWebConfigTLSAndBasicAuth: with --web.config.file the listener speaks
// TLS only, /metrics, /federate and /debug/pprof want one of
// basic_auth_users (a wrong password, an unknown user and none are refused),
// the rest of the server is not asked for basic auth (the API answers with
// its own login), headers apply to every answer, and a user added to the
// file works without a restart.
func TestWebConfigTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	pool := selfSigned(t, dir)
	webFile := filepath.Join(dir, "web.yml")
	webYAML := `tls_server_config:
  cert_file: cert.pem
  key_file: key.pem
http_server_config:
  headers:
    X-Frame-Options: deny
basic_auth_users:
  prometheus: ` + bcryptHash(t, "scrape-secret") + "\n"
	writeFile(t, webFile, webYAML)
	t.Setenv("CORRAL_ADMIN_PASSWORD", "admin-password-1")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	base := startTLS(t, Options{WebConfigFile: webFile, EnablePprof: true, StorageURL: "sqlite:" + filepath.Join(dir, "corral.db")}, client)

	req := func(method, path, user, pass string, body io.Reader) *http.Response {
		t.Helper()
		r, _ := http.NewRequest(method, base+path, body)
		if user != "" {
			r.SetBasicAuth(user, pass)
		}
		if body != nil {
			r.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for _, path := range []string{"/metrics", "/federate?match[]=up", "/debug/pprof/"} {
		if resp := req("GET", path, "prometheus", "scrape-secret", nil); resp.StatusCode != 200 {
			t.Errorf("%s with the right password: %d", path, resp.StatusCode)
		}
		for _, c := range [][2]string{{"prometheus", "wrong"}, {"nobody", "scrape-secret"}, {"", ""}} {
			resp := req("GET", path, c[0], c[1], nil)
			if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("%s as %q/%q: %d %q, want 401 asking for basic auth", path, c[0], c[1], resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
		}
	}
	if resp := req("GET", "/-/healthy", "", "", nil); resp.StatusCode != 200 || resp.Header.Get("X-Frame-Options") != "deny" {
		t.Errorf("/-/healthy: %d, X-Frame-Options %q; want 200 and deny", resp.StatusCode, resp.Header.Get("X-Frame-Options"))
	}
	// The API keeps its own authentication: no basic auth asked, a login works.
	if resp := req("GET", "/api/v1/targets", "", "", nil); resp.StatusCode != http.StatusUnauthorized || strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("/api/v1/targets without a login: %d %q, want the API's own 401", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	login, _ := http.NewRequest("POST", base+"/api/v1/login", strings.NewReader(`{"username":"admin","password":"admin-password-1"}`))
	login.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(login)
	if err != nil {
		t.Fatal(err)
	}
	var me map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&me)
	resp.Body.Close()
	if resp.StatusCode != 200 || me["csrf_token"] == nil {
		t.Errorf("API login over TLS: %d %v", resp.StatusCode, me)
	}
	// Plain HTTP on the TLS port gets nothing of the server's.
	plain, err := http.Get(strings.Replace(base, "https://", "http://", 1) + "/metrics")
	if err == nil {
		b, _ := io.ReadAll(plain.Body)
		plain.Body.Close()
		if plain.StatusCode == 200 || strings.Contains(string(b), "corral_") {
			t.Errorf("plain HTTP answered %d:\n%.200s", plain.StatusCode, b)
		}
	}
	// A user added to the file is taken at once, as the toolkit does.
	writeFile(t, webFile, webYAML+"  grafana: "+bcryptHash(t, "other-secret")+"\n")
	future := time.Now().Add(2 * time.Second)
	_ = os.Chtimes(webFile, future, future)
	if resp := req("GET", "/metrics", "grafana", "other-secret", nil); resp.StatusCode != 200 {
		t.Errorf("user added to the web config: %d", resp.StatusCode)
	}
}

// TestWebConfigErrors: a bad web config file stops the start with an error
// that names the problem.
func TestWebConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"unknown field":      "basic_auth_user: {a: b}\n",
		"not a bcrypt hash":  "basic_auth_users: {prometheus: plaintext}\n",
		"missing key":        "tls_server_config: {cert_file: cert.pem}\n",
		"header not allowed": "http_server_config: {headers: {Server: corral}}\n",
	}
	wants := map[string]string{
		"unknown field": "field basic_auth_user not found", "not a bcrypt hash": "basic_auth_users.prometheus: want a bcrypt hash",
		"missing key": "missing one of key or key_file", "header not allowed": `HTTP header "Server" can not be configured`,
	}
	for name, y := range cases {
		t.Run(name, func(t *testing.T) {
			f := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yml")
			writeFile(t, f, y)
			err := Run(context.Background(), Options{WebConfigFile: f, ListenAddress: "127.0.0.1:0", StorageURL: "sqlite:" + filepath.Join(t.TempDir(), "c.db")})
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), wants[name]) {
				t.Errorf("Run: %v, want a config error containing %q", err, wants[name])
			}
		})
	}
}
