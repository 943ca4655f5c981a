package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/corral-dev/corral/api/wire"
)

// corralctlIn runs the built corralctl with stdin and returns its output and
// exit code.
func corralctlIn(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(corralctlB.get(t, "github.com/corral-dev/corral/cmd/corralctl"), args...)
	var o, e bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// TestPeopleCommands drives users, orgs, teams, bind, unbind, passwd and
// logout through the built corralctl against a real corral server.
func TestPeopleCommands(t *testing.T) {
	f := newFleet(t)
	f.start()
	admin := func(stdin string, args ...string) (string, string, int) {
		t.Helper()
		return corralctlIn(t, stdin, append([]string{"--config", f.cfg}, args...)...)
	}
	ok := func(stdin string, args ...string) string {
		t.Helper()
		out, errOut, code := admin(stdin, args...)
		if code != 0 {
			t.Fatalf("corralctl %v: exit %d: %s%s", args, code, out, errOut)
		}
		return out
	}
	ok("", "orgs", "add", "acme", "--name", "Acme")
	ok("", "teams", "add", "acme", "red", "--name", "Red")
	if out := ok("", "teams", "list", "acme"); !strings.Contains(out, "acme/red") {
		t.Errorf("teams list: %s", out)
	}
	ok("ana-password-1\n", "users", "add", "ana", "--role", "team_lead:acme", "--email", "ana@example.com", "--password-stdin")
	out := ok("", "users", "add", "bo", "--role", "viewer:acme/red")
	m := regexp.MustCompile(`password \(shown this once\): (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("users add without a password printed no password: %s", out)
	}
	boPassword := m[1]
	if out := ok("", "users", "list"); !strings.Contains(out, "ana") || !strings.Contains(out, "team_lead:acme") || !strings.Contains(out, "viewer:acme/red") {
		t.Errorf("users list:\n%s", out)
	}
	ok("", "users", "set", "ana", "--display-name", "Ana Álvarez")
	var u wire.User
	if err := json.Unmarshal([]byte(ok("", "users", "show", "ana", "-o", "json")), &u); err != nil || u.DisplayName != "Ana Álvarez" || u.Email != "ana@example.com" {
		t.Fatalf("users show: %+v %v", u, err)
	}

	anaCfg := filepath.Join(t.TempDir(), "ana.json")
	ana := func(stdin string, args ...string) (string, string, int) {
		t.Helper()
		return corralctlIn(t, stdin, append([]string{"--config", anaCfg}, args...)...)
	}
	if out, e, code := ana("ana-password-1\n", "login", "--server", f.base, "--username", "ana", "--password-stdin"); code != 0 {
		t.Fatalf("ana login: %d %s %s", code, out, e)
	}
	// ana may not raise her own role, nor see the user list.
	if _, e, code := ana("", "bind", "ana", "org_admin", "--org", "acme"); code != 4 || !strings.Contains(e, "org_admin and super_admin") {
		t.Errorf("self-raise: exit %d: %s", code, e)
	}
	if _, _, code := ana("", "users", "list"); code != 4 {
		t.Errorf("team lead lists users: exit %d", code)
	}
	ok("", "bind", "bo", "team_lead", "--org", "acme", "--team", "red")
	if out := ok("", "users", "show", "bo"); !strings.Contains(out, "team_lead:acme/red") {
		t.Errorf("after bind: %s", out)
	}
	ok("", "unbind", "bo", "team_lead", "--org", "acme", "--team", "red")
	if _, _, code := admin("", "unbind", "bo", "team_lead", "--org", "acme", "--team", "red"); code != 3 {
		t.Errorf("unbind twice: exit %d, want 3 (not found)", code)
	}

	// Disabled: ana's token stops at once; enabled: it works again.
	ok("", "users", "disable", "ana")
	if _, e, code := ana("", "get", "collectors"); code != 4 || !strings.Contains(e, "authentication required") {
		t.Errorf("a disabled user's token: exit %d: %s", code, e)
	}
	ok("", "users", "enable", "ana")
	if _, e, code := ana("", "get", "collectors"); code != 0 {
		t.Errorf("after enable: exit %d: %s", code, e)
	}

	// ana changes her own password; the old one is needed.
	if _, _, code := ana("wrong-old\nnew-password-2\n", "passwd", "--password-stdin"); code != 4 {
		t.Errorf("passwd with a wrong old password: exit %d, want 4", code)
	}
	if out, e, code := ana("ana-password-1\nnew-password-2\n", "passwd", "--password-stdin"); code != 0 || !strings.Contains(out, "password changed") {
		t.Fatalf("passwd: exit %d: %s %s", code, out, e)
	}
	if _, _, code := ana("", "passwd"); code != 2 {
		t.Errorf("passwd without a terminal or --password-stdin: exit %d, want 2", code)
	}
	if _, e, code := corralctlIn(t, "new-password-2\n", "--config", filepath.Join(t.TempDir(), "x.json"), "login", "--server", f.base,
		"--username", "ana", "--password-stdin"); code != 0 {
		t.Errorf("login with the new password: %d %s", code, e)
	}

	// A reset password is printed once and works.
	out = ok("", "users", "reset-password", "bo")
	m = regexp.MustCompile(`new password \(shown this once\): (\S+)`).FindStringSubmatch(out)
	if m == nil || m[1] == boPassword {
		t.Fatalf("reset-password: %s", out)
	}
	if _, e, code := corralctlIn(t, m[1]+"\n", "--config", filepath.Join(t.TempDir(), "bo.json"), "login", "--server", f.base,
		"--username", "bo", "--password-stdin"); code != 0 {
		t.Errorf("login with the reset password: %d %s", code, e)
	}

	// The last super admin stays.
	if _, e, code := admin("", "users", "delete", "admin", "--yes"); code == 0 || !strings.Contains(e, "last enabled super admin") {
		t.Errorf("delete the last super admin: exit %d: %s", code, e)
	}
	if _, e, code := admin("", "users", "delete", "bo"); code != 2 || !strings.Contains(e, "--yes") {
		t.Errorf("delete without a terminal or --yes: exit %d: %s", code, e)
	}
	ok("", "users", "delete", "bo", "--yes")
	if _, _, code := admin("", "users", "show", "bo"); code != 3 {
		t.Errorf("show a deleted user: exit %d", code)
	}

	// logout revokes the token and forgets the config.
	b, err := os.ReadFile(anaCfg)
	if err != nil {
		t.Fatal(err)
	}
	var saved ctlConfig
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatal(err)
	}
	if out, e, code := ana("", "logout"); code != 0 || !strings.Contains(out, "logged out") {
		t.Fatalf("logout: exit %d: %s %s", code, out, e)
	}
	if _, err := os.Stat(anaCfg); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the config is still there: %v", err)
	}
	os.WriteFile(anaCfg, b, 0o600) // the old token again: the server refuses it
	if _, _, code := ana("", "get", "collectors"); code != 4 {
		t.Errorf("the token after logout: exit %d, want 4", code)
	}

	if _, _, code := corralctlIn(t, "not-her-password\n", "--config", filepath.Join(t.TempDir(), "y.json"), "login", "--server", f.base,
		"--username", "ana", "--password-stdin"); code != 4 {
		t.Errorf("login with a wrong password: exit %d, want 4", code)
	}
	// The audit trail shows the people changes.
	out = ok("", "audit", "-o", "json")
	for _, action := range []string{"org-create", "team-create", "user-create", "user-update", "role-bind", "role-unbind",
		"user-disable", "user-enable", "password-change", "user-reset-password", "user-delete", "login", "login-failed", "token-create", "token-revoke"} {
		if !strings.Contains(out, `"action":"`+action+`"`) {
			t.Errorf("no %s in the audit trail", action)
		}
	}
	if strings.Contains(out, "ana-password-1") || strings.Contains(out, m[1]) || strings.Contains(out, "not-her-password") {
		t.Error("a password in the audit trail")
	}
	ok("", "orgs", "delete", "acme", "--yes")
}
