package store

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

// TestIdentityConformance runs the identity part of the conformance suite against
// a real SQLite file and a real PostgreSQL database.
func TestIdentityConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			runIdentityConformance(t, func(t *testing.T) *Store { return openStore(t, b.url(t)) })
		})
	}
}

func runIdentityConformance(t *testing.T, open func(t *testing.T) *Store) {
	ctx := context.Background()
	zone := time.FixedZone("UTC-3", -3*3600)
	base := time.Date(2025, 6, 1, 9, 30, 0, 123456789, zone)

	t.Run("OrgsTeams", func(t *testing.T) {
		s := open(t)
		if got, err := s.Orgs(ctx); err != nil || len(got) != 0 {
			t.Fatalf("empty store: Orgs() = %v, %v", got, err)
		}
		for _, o := range []Org{{ID: "zeta", Name: "Zeta S.p.A.", CreatedAt: base}, {ID: "acme", Name: "Acme Ünïcode"}} {
			if err := s.CreateOrg(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CreateOrg(ctx, Org{ID: "acme"}); !errors.Is(err, ErrExists) {
			t.Fatalf("CreateOrg(acme) again = %v, want ErrExists", err)
		}
		if err := s.CreateOrg(ctx, Org{}); err == nil {
			t.Fatal("CreateOrg with empty ID succeeded")
		}
		orgs, err := s.Orgs(ctx)
		if err != nil || len(orgs) != 2 || orgs[0].ID != "acme" || orgs[1].Name != "Zeta S.p.A." || !orgs[1].CreatedAt.Equal(ms(base)) {
			t.Fatalf("Orgs() = %+v, %v", orgs, err)
		}
		if time.Since(orgs[0].CreatedAt) > time.Minute || orgs[0].CreatedAt.Location() != time.UTC {
			t.Fatalf("default CreatedAt = %v, want about now in UTC", orgs[0].CreatedAt)
		}

		for _, tm := range []Team{{Org: "acme", ID: "web", Name: "Web"}, {Org: "acme", ID: "db", CreatedAt: base}, {Org: "zeta", ID: "db"}} {
			if err := s.CreateTeam(ctx, tm); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CreateTeam(ctx, Team{Org: "acme", ID: "db"}); !errors.Is(err, ErrExists) {
			t.Fatalf("CreateTeam(acme/db) again = %v, want ErrExists", err)
		}
		if err := s.CreateTeam(ctx, Team{Org: "nope", ID: "db"}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("CreateTeam in unknown org = %v, want ErrNotFound", err)
		}
		teams, err := s.Teams(ctx, "acme")
		if err != nil || len(teams) != 2 {
			t.Fatalf("Teams(acme) = %+v, %v", teams, err)
		}
		want := []Team{{Org: "acme", ID: "db", CreatedAt: ms(base)}, {Org: "acme", ID: "web", Name: "Web", CreatedAt: teams[1].CreatedAt}}
		if !reflect.DeepEqual(teams, want) {
			t.Fatalf("Teams(acme) = %+v, %v\nwant %+v", teams, err, want)
		}
		if teams, err := s.Teams(ctx, "nope"); err != nil || len(teams) != 0 {
			t.Fatalf("Teams(unknown) = %+v, %v", teams, err)
		}
	})

	t.Run("Users", func(t *testing.T) {
		s := open(t)
		if has, err := s.HasUsers(ctx); err != nil || has {
			t.Fatalf("empty store: HasUsers() = %v, %v", has, err)
		}
		u, err := s.CreateUser(ctx, User{Username: "ana", PasswordHash: "$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA", CreatedAt: base})
		if err != nil {
			t.Fatal(err)
		}
		if u.ID == "" || !u.CreatedAt.Equal(ms(base)) || u.CreatedAt.Location() != time.UTC || u.Disabled() {
			t.Fatalf("CreateUser returned %+v", u)
		}
		if has, err := s.HasUsers(ctx); err != nil || !has {
			t.Fatalf("HasUsers() = %v, %v after creating one", has, err)
		}
		if _, err := s.CreateUser(ctx, User{Username: "ana", PasswordHash: "x"}); !errors.Is(err, ErrExists) {
			t.Fatalf("CreateUser(ana) again = %v, want ErrExists", err)
		}
		if _, err := s.CreateUser(ctx, User{ID: u.ID, Username: "other", PasswordHash: "x"}); !errors.Is(err, ErrExists) {
			t.Fatalf("CreateUser with a taken ID = %v, want ErrExists", err)
		}
		if _, err := s.CreateUser(ctx, User{Username: "nohash"}); err == nil {
			t.Fatal("CreateUser without a password hash succeeded")
		}
		// Usernames are compared exactly.
		ana2, err := s.CreateUser(ctx, User{ID: "u-ana2", Username: "Ana", PasswordHash: "x"})
		if err != nil {
			t.Fatalf("CreateUser(Ana): %v", err)
		}
		got, err := s.User(ctx, u.ID)
		if err != nil || !reflect.DeepEqual(got, u) {
			t.Fatalf("User() = %+v, %v\nwant %+v", got, err, u)
		}
		got, err = s.UserByUsername(ctx, "ana")
		if err != nil || !reflect.DeepEqual(got, u) {
			t.Fatalf("UserByUsername() = %+v, %v\nwant %+v", got, err, u)
		}
		if _, err := s.User(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("User(unknown) = %v, want ErrNotFound", err)
		}
		if _, err := s.UserByUsername(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("UserByUsername(unknown) = %v, want ErrNotFound", err)
		}
		all, err := s.Users(ctx)
		if err != nil || len(all) != 2 || all[0].ID != ana2.ID || all[1].ID != u.ID {
			t.Fatalf("Users() = %+v, %v; want Ana then ana", all, err)
		}

		if err := s.SetPassword(ctx, u.ID, "newhash"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPassword(ctx, "nope", "h"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("SetPassword(unknown) = %v, want ErrNotFound", err)
		}
		if err := s.SetUserDisabled(ctx, u.ID, base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, _ = s.User(ctx, u.ID)
		if got.PasswordHash != "newhash" || !got.Disabled() || !got.DisabledAt.Equal(ms(base.Add(time.Hour))) {
			t.Fatalf("after SetPassword and disable: %+v", got)
		}
		if err := s.SetUserDisabled(ctx, u.ID, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if got, _ = s.User(ctx, u.ID); got.Disabled() {
			t.Fatalf("still disabled after enabling: %+v", got)
		}
		if err := s.SetUserDisabled(ctx, "nope", base); !errors.Is(err, ErrNotFound) {
			t.Fatalf("SetUserDisabled(unknown) = %v, want ErrNotFound", err)
		}
	})

	t.Run("Bindings", func(t *testing.T) {
		s := open(t)
		mustOrgTeam(t, s, "acme", "web")
		mustOrgTeam(t, s, "zeta", "")
		bindings := []RoleBinding{{Role: RoleViewer, Org: "zeta"}, {Role: RoleTeamLead, Org: "acme", Team: "web"}}
		u, err := s.CreateUser(ctx, User{Username: "bo", PasswordHash: "h"}, bindings...)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Bindings(ctx, u.ID)
		want := []RoleBinding{{Role: RoleTeamLead, Org: "acme", Team: "web"}, {Role: RoleViewer, Org: "zeta"}}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("Bindings() = %+v, %v\nwant %+v", got, err, want)
		}
		// A bad binding fails the whole CreateUser.
		if _, err := s.CreateUser(ctx, User{Username: "cy", PasswordHash: "h"}, RoleBinding{Role: RoleOrgAdmin, Org: "nope"}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("CreateUser with a binding to an unknown org = %v, want ErrNotFound", err)
		}
		if _, err := s.UserByUsername(ctx, "cy"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("user cy was created although its binding failed: %v", err)
		}

		for _, tc := range []struct {
			b    RoleBinding
			want error // nil: any error
		}{
			{RoleBinding{Role: RoleSuperAdmin, Org: "acme"}, nil},
			{RoleBinding{Role: RoleOrgAdmin}, nil},
			{RoleBinding{Role: RoleOrgAdmin, Org: "acme", Team: "web"}, nil},
			{RoleBinding{Role: RoleViewer}, nil},
			{RoleBinding{Role: RoleViewer, Team: "web"}, nil},
			{RoleBinding{Role: "root"}, nil},
			{RoleBinding{Role: RoleViewer, Org: "acme", Team: "nope"}, ErrNotFound},
			{RoleBinding{Role: RoleViewer, Org: "zeta", Team: "web"}, ErrNotFound},
			{RoleBinding{Role: RoleTeamLead, Org: "acme", Team: "web"}, ErrExists},
		} {
			err := s.AddBinding(ctx, u.ID, tc.b)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("AddBinding(%+v) = %v, want %v", tc.b, err, tc.want)
			}
		}
		if err := s.AddBinding(ctx, "nope", RoleBinding{Role: RoleSuperAdmin}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("AddBinding(unknown user) = %v, want ErrNotFound", err)
		}
		for _, b := range []RoleBinding{{Role: RoleSuperAdmin}, {Role: RoleOrgAdmin, Org: "acme"}, {Role: RoleViewer, Org: "acme", Team: "web"}} {
			if err := s.AddBinding(ctx, u.ID, b); err != nil {
				t.Fatalf("AddBinding(%+v): %v", b, err)
			}
		}
		if err := s.RemoveBinding(ctx, u.ID, RoleBinding{Role: RoleViewer, Org: "zeta"}); err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveBinding(ctx, u.ID, RoleBinding{Role: RoleViewer, Org: "zeta"}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("RemoveBinding twice = %v, want ErrNotFound", err)
		}
		got, err = s.Bindings(ctx, u.ID)
		want = []RoleBinding{
			{Role: RoleOrgAdmin, Org: "acme"}, {Role: RoleSuperAdmin},
			{Role: RoleTeamLead, Org: "acme", Team: "web"}, {Role: RoleViewer, Org: "acme", Team: "web"},
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("Bindings() = %+v, %v\nwant %+v", got, err, want)
		}
		if got, err := s.Bindings(ctx, "nope"); err != nil || len(got) != 0 {
			t.Fatalf("Bindings(unknown) = %+v, %v", got, err)
		}
		// The database refuses a binding of the wrong shape even if the code let one through.
		if _, err := s.db.ExecContext(ctx, `INSERT INTO role_bindings (user_id, role, org, team) VALUES ($1, 'super_admin', 'acme', '')`, u.ID); err == nil {
			t.Fatal("the role_bindings CHECK constraint let a super_admin with an org in")
		}
	})

	t.Run("Sessions", func(t *testing.T) {
		s := open(t)
		u, err := s.CreateUser(ctx, User{Username: "di", PasswordHash: "h"})
		if err != nil {
			t.Fatal(err)
		}
		sess := Session{ID: "a1b2", UserID: u.ID, CSRFToken: "csrf-1", CreatedAt: base, ExpiresAt: base.Add(12 * time.Hour)}
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateSession(ctx, sess); !errors.Is(err, ErrExists) {
			t.Fatalf("CreateSession again = %v, want ErrExists", err)
		}
		if err := s.CreateSession(ctx, Session{ID: "x", UserID: "nope", ExpiresAt: base}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("CreateSession(unknown user) = %v, want ErrNotFound", err)
		}
		got, err := s.Session(ctx, "a1b2")
		want := Session{ID: "a1b2", UserID: u.ID, CSRFToken: "csrf-1", CreatedAt: ms(base), ExpiresAt: ms(base.Add(12 * time.Hour))}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("Session() = %+v, %v\nwant %+v", got, err, want)
		}
		if _, err := s.Session(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Session(unknown) = %v, want ErrNotFound", err)
		}
		// Touch only moves forward.
		if err := s.TouchSession(ctx, "a1b2", base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.TouchSession(ctx, "a1b2", base.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.TouchSession(ctx, "nope", base); err != nil {
			t.Fatalf("TouchSession(unknown) = %v", err)
		}
		if got, _ := s.Session(ctx, "a1b2"); !got.LastSeen.Equal(ms(base.Add(time.Hour))) {
			t.Fatalf("LastSeen = %v, want %v", got.LastSeen, ms(base.Add(time.Hour)))
		}
		// Expired sessions are pruned; live ones stay.
		if err := s.CreateSession(ctx, Session{ID: "old", UserID: u.ID, ExpiresAt: base.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if n, err := s.DeleteExpiredSessions(ctx, base.Add(time.Hour)); err != nil || n != 1 {
			t.Fatalf("DeleteExpiredSessions() = %d, %v; want 1", n, err)
		}
		if err := s.DeleteSession(ctx, "a1b2"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteSession(ctx, "a1b2"); err != nil {
			t.Fatalf("DeleteSession twice: %v", err)
		}
		if n := count(t, s, "sessions"); n != 0 {
			t.Fatalf("%d sessions left", n)
		}
	})

	t.Run("Tokens", func(t *testing.T) {
		s := open(t)
		u, err := s.CreateUser(ctx, User{Username: "ed", PasswordHash: "h"})
		if err != nil {
			t.Fatal(err)
		}
		other, err := s.CreateUser(ctx, User{Username: "fi", PasswordHash: "h"})
		if err != nil {
			t.Fatal(err)
		}
		t1, err := s.CreateToken(ctx, APIToken{UserID: u.ID, Name: "ci", SecretSHA256: "sha-1", CreatedAt: base, ExpiresAt: base.Add(24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if t1.ID == "" || !t1.CreatedAt.Equal(ms(base)) || !t1.ExpiresAt.Equal(ms(base.Add(24*time.Hour))) {
			t.Fatalf("CreateToken returned %+v", t1)
		}
		t2, err := s.CreateToken(ctx, APIToken{ID: "tok2", UserID: u.ID, Name: "laptop", SecretSHA256: "sha-2", CreatedAt: base.Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateToken(ctx, APIToken{UserID: other.ID, Name: "dup", SecretSHA256: "sha-1"}); !errors.Is(err, ErrExists) {
			t.Fatalf("CreateToken with a taken secret hash = %v, want ErrExists", err)
		}
		if _, err := s.CreateToken(ctx, APIToken{ID: "tok2", UserID: other.ID, SecretSHA256: "sha-3"}); !errors.Is(err, ErrExists) {
			t.Fatalf("CreateToken with a taken ID = %v, want ErrExists", err)
		}
		if _, err := s.CreateToken(ctx, APIToken{UserID: "nope", SecretSHA256: "sha-4"}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("CreateToken(unknown user) = %v, want ErrNotFound", err)
		}
		got, err := s.TokenBySecretHash(ctx, "sha-1")
		if err != nil || !reflect.DeepEqual(got, t1) {
			t.Fatalf("TokenBySecretHash() = %+v, %v\nwant %+v", got, err, t1)
		}
		if _, err := s.TokenBySecretHash(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("TokenBySecretHash(unknown) = %v, want ErrNotFound", err)
		}
		list, err := s.Tokens(ctx, u.ID)
		if err != nil || !reflect.DeepEqual(list, []APIToken{t2, t1}) {
			t.Fatalf("Tokens() = %+v, %v\nwant newest first %+v", list, err, []APIToken{t2, t1})
		}
		if list, err := s.Tokens(ctx, other.ID); err != nil || len(list) != 0 {
			t.Fatalf("Tokens(other) = %+v, %v", list, err)
		}

		if err := s.TouchToken(ctx, t1.ID, base.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.TouchToken(ctx, t1.ID, base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeToken(ctx, other.ID, t1.ID, base); !errors.Is(err, ErrNotFound) {
			t.Fatalf("RevokeToken by another user = %v, want ErrNotFound", err)
		}
		if err := s.RevokeToken(ctx, u.ID, t1.ID, base.Add(3*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeToken(ctx, u.ID, t1.ID, base.Add(4*time.Hour)); err != nil {
			t.Fatalf("RevokeToken twice: %v", err)
		}
		if err := s.RevokeToken(ctx, u.ID, "nope", base); !errors.Is(err, ErrNotFound) {
			t.Fatalf("RevokeToken(unknown) = %v, want ErrNotFound", err)
		}
		got, _ = s.TokenBySecretHash(ctx, "sha-1")
		if !got.LastUsed.Equal(ms(base.Add(2*time.Hour))) || !got.RevokedAt.Equal(ms(base.Add(3*time.Hour))) {
			t.Fatalf("after touch and revoke: %+v", got)
		}

		// Deleting a user takes its sessions, tokens and bindings with it.
		if err := s.CreateSession(ctx, Session{ID: "s", UserID: u.ID, ExpiresAt: base}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddBinding(ctx, u.ID, RoleBinding{Role: RoleSuperAdmin}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.db.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, u.ID); err != nil {
			t.Fatal(err)
		}
		for _, table := range []string{"sessions", "api_tokens", "role_bindings"} {
			if n := count(t, s, table); n != 0 {
				t.Errorf("%d rows left in %s after deleting their user", n, table)
			}
		}
	})
}

// mustOrgTeam creates org and, unless team is empty, its team.
func mustOrgTeam(t *testing.T, s *Store, org, team string) {
	t.Helper()
	ctx := context.Background()
	if err := s.CreateOrg(ctx, Org{ID: org}); err != nil && !errors.Is(err, ErrExists) {
		t.Fatal(err)
	}
	if team != "" {
		if err := s.CreateTeam(ctx, Team{Org: org, ID: team}); err != nil {
			t.Fatal(err)
		}
	}
}
