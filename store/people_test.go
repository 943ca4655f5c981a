package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestPeopleConformance runs the administration of people against a real
// SQLite file and a real PostgreSQL database.
func TestPeopleConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			runPeopleConformance(t, func(t *testing.T) *Store { return openStore(t, b.url(t)) })
		})
	}
}

func runPeopleConformance(t *testing.T, open func(t *testing.T) *Store) {
	ctx := context.Background()
	newUser := func(t *testing.T, s *Store, name string, bs ...RoleBinding) User {
		t.Helper()
		u, err := s.CreateUser(ctx, User{Username: name, PasswordHash: "h", DisplayName: "D " + name, Email: name + "@x"}, bs...)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	super := RoleBinding{Role: RoleSuperAdmin}

	t.Run("Profile", func(t *testing.T) {
		s := open(t)
		u := newUser(t, s, "ana")
		got, err := s.User(ctx, u.ID)
		if err != nil || got.DisplayName != "D ana" || got.Email != "ana@x" {
			t.Fatalf("User() = %+v, %v", got, err)
		}
		name := "Ana Ünïcode"
		got, err = s.UpdateUser(ctx, u.ID, UserChange{DisplayName: &name})
		if err != nil || got.DisplayName != name || got.Email != "ana@x" {
			t.Fatalf("UpdateUser(name) = %+v, %v", got, err)
		}
		empty := ""
		if _, err := s.UpdateUser(ctx, u.ID, UserChange{Email: &empty}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.User(ctx, u.ID); got.DisplayName != name || got.Email != "" {
			t.Fatalf("after clearing the email: %+v", got)
		}
		if _, err := s.UpdateUser(ctx, "nope", UserChange{Email: &empty}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("UpdateUser(unknown) = %v, want ErrNotFound", err)
		}
	})

	t.Run("LastSuperAdmin", func(t *testing.T) {
		s := open(t)
		a := newUser(t, s, "a", super)
		b := newUser(t, s, "b", super)
		plain := newUser(t, s, "plain")
		if err := s.SetUserDisabled(ctx, b.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		// b is disabled: a is the last enabled super admin.
		if err := s.SetUserDisabled(ctx, a.ID, time.Now()); !errors.Is(err, ErrLastSuperAdmin) {
			t.Fatalf("disable the last = %v, want ErrLastSuperAdmin", err)
		}
		if _, err := s.DeleteUser(ctx, a.ID); !errors.Is(err, ErrLastSuperAdmin) {
			t.Fatalf("delete the last = %v, want ErrLastSuperAdmin", err)
		}
		if err := s.RemoveBinding(ctx, a.ID, super); !errors.Is(err, ErrLastSuperAdmin) {
			t.Fatalf("unbind the last = %v, want ErrLastSuperAdmin", err)
		}
		if u, _ := s.User(ctx, a.ID); u.Disabled() {
			t.Fatal("a refused disable left a disabled")
		}
		// Others are not affected by the rule.
		if err := s.SetUserDisabled(ctx, plain.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteUser(ctx, plain.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteUser(ctx, plain.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("delete twice = %v, want ErrNotFound", err)
		}
		if err := s.SetUserDisabled(ctx, b.ID, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveBinding(ctx, a.ID, super); err != nil {
			t.Fatalf("unbind a with b enabled: %v", err)
		}
		if bs, _ := s.Bindings(ctx, a.ID); len(bs) != 0 {
			t.Fatalf("a still has %v", bs)
		}
	})

	t.Run("LastSuperAdminRace", func(t *testing.T) {
		s := open(t)
		// Rounds of the only two enabled super admins removed at once: exactly one
		// of each pair may go.
		survivor := ""
		for round := range 10 {
			a := newUser(t, s, fmt.Sprintf("a%d", round), super)
			b := newUser(t, s, fmt.Sprintf("b%d", round), super)
			if survivor != "" {
				if err := s.SetUserDisabled(ctx, survivor, time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			errs := make([]error, 2)
			wg.Go(func() { _, errs[0] = s.DeleteUser(ctx, a.ID) })
			wg.Go(func() { errs[1] = s.SetUserDisabled(ctx, b.ID, time.Now()) })
			wg.Wait()
			refused := 0
			for _, err := range errs {
				switch {
				case errors.Is(err, ErrLastSuperAdmin):
					refused++
				case err != nil:
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if refused != 1 {
				t.Fatalf("round %d: %d of 2 refused (%v), want 1", round, refused, errs)
			}
			if n := enabledSupers(t, s); n != 1 {
				t.Fatalf("round %d: %d enabled super admins, want 1", round, n)
			}
			survivor = a.ID
			if errs[0] == nil {
				survivor = b.ID
			}
		}
	})

	t.Run("Sessions", func(t *testing.T) {
		s := open(t)
		u := newUser(t, s, "ana")
		other := newUser(t, s, "bo")
		now := time.Now()
		for _, sess := range []Session{{ID: "s1", UserID: u.ID}, {ID: "s2", UserID: u.ID}, {ID: "s3", UserID: other.ID}} {
			sess.CSRFToken, sess.ExpiresAt = "c", now.Add(time.Hour)
			if err := s.CreateSession(ctx, sess); err != nil {
				t.Fatal(err)
			}
		}
		ids, err := s.EndSessions(ctx, u.ID)
		if err != nil || len(ids) != 2 {
			t.Fatalf("EndSessions = %v, %v", ids, err)
		}
		if _, err := s.Session(ctx, "s1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("s1 after EndSessions: %v", err)
		}
		if _, err := s.Session(ctx, "s3"); err != nil {
			t.Fatalf("another user's session: %v", err)
		}
		ids, err = s.DeleteUser(ctx, other.ID)
		if err != nil || len(ids) != 1 || ids[0] != "s3" {
			t.Fatalf("DeleteUser sessions = %v, %v", ids, err)
		}
	})

	t.Run("OrgsTeams", func(t *testing.T) {
		s := open(t)
		if err := s.CreateOrg(ctx, Org{ID: "acme", Name: "Acme"}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateTeam(ctx, Team{Org: "acme", ID: "red", Name: "Red"}); err != nil {
			t.Fatal(err)
		}
		u := newUser(t, s, "ana", RoleBinding{Role: RoleViewer, Org: "acme", Team: "red"}, RoleBinding{Role: RoleOrgAdmin, Org: "acme"})
		if err := s.RenameOrg(ctx, "acme", "Acme Corp"); err != nil {
			t.Fatal(err)
		}
		if o, err := s.Org(ctx, "acme"); err != nil || o.Name != "Acme Corp" {
			t.Fatalf("Org() = %+v, %v", o, err)
		}
		if err := s.RenameTeam(ctx, "acme", "red", "Reds"); err != nil {
			t.Fatal(err)
		}
		if tm, err := s.Team(ctx, "acme", "red"); err != nil || tm.Name != "Reds" {
			t.Fatalf("Team() = %+v, %v", tm, err)
		}
		all, err := s.AllBindings(ctx)
		if err != nil || len(all) != 2 || all[0].UserID != u.ID {
			t.Fatalf("AllBindings() = %+v, %v", all, err)
		}
		if err := s.DeleteTeam(ctx, "acme", "red"); err != nil {
			t.Fatal(err)
		}
		if bs, _ := s.Bindings(ctx, u.ID); len(bs) != 1 || bs[0].Role != RoleOrgAdmin {
			t.Fatalf("after deleting the team: %+v", bs)
		}
		if err := s.DeleteOrg(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
		if bs, _ := s.Bindings(ctx, u.ID); len(bs) != 0 {
			t.Fatalf("after deleting the org: %+v", bs)
		}
		for name, err := range map[string]error{
			"Org":        func() error { _, err := s.Org(ctx, "acme"); return err }(),
			"Team":       func() error { _, err := s.Team(ctx, "acme", "red"); return err }(),
			"RenameOrg":  s.RenameOrg(ctx, "acme", "x"),
			"RenameTeam": s.RenameTeam(ctx, "acme", "red", "x"),
			"DeleteOrg":  s.DeleteOrg(ctx, "acme"),
			"DeleteTeam": s.DeleteTeam(ctx, "acme", "red"),
		} {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("%s(unknown) = %v, want ErrNotFound", name, err)
			}
		}
	})

	t.Run("AuditTarget", func(t *testing.T) {
		s := open(t)
		for _, tg := range []string{"ana", "bo", ""} {
			if _, err := s.AppendAudit(ctx, AuditEntry{Actor: Actor{Kind: ActorUser, Name: "admin"}, Action: "user-update", Target: tg, Result: ResultOK}); err != nil {
				t.Fatal(err)
			}
		}
		rows, total, err := s.Audit(ctx, AuditFilter{All: true, Target: "ana"})
		if err != nil || total != 1 || rows[0].Target != "ana" {
			t.Fatalf("Audit(target=ana) = %+v, %d, %v", rows, total, err)
		}
	})
}

func enabledSupers(t *testing.T, s *Store) int {
	t.Helper()
	all, err := s.AllBindings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range all {
		if b.Role != RoleSuperAdmin {
			continue
		}
		if u, err := s.User(context.Background(), b.UserID); err == nil && !u.Disabled() {
			n++
		}
	}
	return n
}
