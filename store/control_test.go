package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/corral-dev/corral/fleet"
)

// TestControlConformance runs the control plane's part of the conformance suite
// against a real SQLite file and a real PostgreSQL database.
func TestControlConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			runControlConformance(t, func(t *testing.T) *Store { return openStore(t, b.url(t)) })
		})
	}
}

func runControlConformance(t *testing.T, open func(t *testing.T) *Store) {
	ctx := context.Background()
	base := time.Date(2026, 5, 4, 10, 0, 0, 123456789, time.UTC)
	alice := Actor{Kind: ActorUser, Name: "alice", UserID: "u-alice"}

	t.Run("SubmitCommand", func(t *testing.T) {
		s := open(t)
		c := Command{ID: "cmd-1", Collector: "pg-1", Command: "pause", Args: json.RawMessage(`{"reason":"maint"}`),
			State: CommandPending, NextAttemptAt: base, ExpiresAt: base.Add(5 * time.Minute), CreatedAt: base,
			Baseline: json.RawMessage(`{"start_time":1}`), Actor: alice, Reason: "maint", Org: "acme", Team: "red"}
		d := &DesiredState{Collector: "pg-1", Run: DesiredPaused, Reason: "maint", ResumeExpected: base.Add(time.Hour), UpdatedBy: "alice", UpdatedAt: base}
		a := AuditEntry{At: base, Actor: alice, Action: "stop", Collector: "pg-1", Org: "acme", Team: "red", Reason: "maint",
			Params: json.RawMessage(`{"reason":"maint"}`), Result: ResultPending}
		if err := s.SubmitCommand(ctx, c, a, d); err != nil {
			t.Fatal(err)
		}
		// The same ID again changes nothing at all: no second audit row, no desired state.
		d2 := &DesiredState{Collector: "pg-1", Run: DesiredRunning, UpdatedBy: "bob"}
		if err := s.SubmitCommand(ctx, c, a, d2); !errors.Is(err, ErrExists) {
			t.Fatalf("duplicate ID: %v, want ErrExists", err)
		}
		if n := count(t, s, "audit_log"); n != 1 {
			t.Fatalf("%d audit rows after a refused duplicate, want 1", n)
		}
		ds, err := s.DesiredStates(ctx)
		if err != nil || len(ds) != 1 || !ds[0].Paused() || ds[0].UpdatedBy != "alice" {
			t.Fatalf("desired states %+v, %v", ds, err)
		}
		got, err := s.Command(ctx, "cmd-1")
		if err != nil {
			t.Fatal(err)
		}
		want := c
		want.CreatedAt, want.NextAttemptAt, want.ExpiresAt = ms(base), ms(base), ms(base.Add(5*time.Minute))
		want.UpdatedAt = got.UpdatedAt
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Command() =\n%+v\nwant\n%+v", got, want)
		}
		if _, err := s.Command(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown command: %v", err)
		}
		rows, _, err := s.Audit(ctx, AuditFilter{All: true})
		if err != nil || len(rows) != 1 || rows[0].CommandID != "cmd-1" || rows[0].FinishedAt != (time.Time{}) {
			t.Fatalf("audit %+v, %v", rows, err)
		}

		// Through its life: sent, acknowledged, confirmed; the audit row is finished once.
		c.State, c.Attempts, c.SentAt = CommandSent, 1, base.Add(time.Second)
		if err := s.UpdateCommand(ctx, c); err != nil {
			t.Fatal(err)
		}
		if open, err := s.OpenCommands(ctx); err != nil || len(open) != 1 || open[0].State != CommandSent {
			t.Fatalf("open commands %+v, %v", open, err)
		}
		c.State, c.AckedAt, c.Result = CommandAcknowledged, base.Add(2*time.Second), json.RawMessage(`{"state":"paused"}`)
		if err := s.UpdateCommand(ctx, c); err != nil {
			t.Fatal(err)
		}
		c.State, c.FinishedAt = CommandConfirmed, base.Add(7*time.Second)
		if err := s.UpdateCommand(ctx, c); err != nil {
			t.Fatal(err)
		}
		c.State, c.Error, c.FinishedAt = CommandFailed, "late", base.Add(time.Hour) // a second final write
		if err := s.UpdateCommand(ctx, c); err != nil {
			t.Fatal(err)
		}
		rows, _, _ = s.Audit(ctx, AuditFilter{All: true})
		if rows[0].Result != CommandConfirmed || !rows[0].FinishedAt.Equal(ms(base.Add(7*time.Second))) {
			t.Fatalf("audit row finished as %q at %v, want confirmed at +7s (finished once)", rows[0].Result, rows[0].FinishedAt)
		}
		if open, err := s.OpenCommands(ctx); err != nil || len(open) != 0 {
			t.Fatalf("open commands after the end: %+v, %v", open, err)
		}
		got, _ = s.Command(ctx, "cmd-1")
		if string(got.Result) != `{"state":"paused"}` || got.Attempts != 1 || !got.AckedAt.Equal(ms(base.Add(2*time.Second))) {
			t.Fatalf("after updates: %+v", got)
		}
		if err := s.UpdateCommand(ctx, Command{ID: "nope", State: CommandFailed}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("update of an unknown command: %v", err)
		}
	})

	t.Run("Commands", func(t *testing.T) {
		s := open(t)
		for i := range 7 {
			c := Command{ID: fmt.Sprintf("c%d", i), Collector: []string{"a", "b"}[i%2], Command: "collect", State: CommandPending,
				ExpiresAt: base.Add(time.Hour), CreatedAt: base.Add(time.Duration(i) * time.Second), Actor: alice}
			if i == 6 {
				c.BulkID = "bulk-1"
			}
			if err := s.SubmitCommand(ctx, c, AuditEntry{Actor: alice, Action: "collect", Collector: c.Collector}, nil); err != nil {
				t.Fatal(err)
			}
		}
		got, total, err := s.Commands(ctx, CommandFilter{Collector: "a", Limit: 2, Offset: 1})
		if err != nil || total != 4 || len(got) != 2 || got[0].ID != "c4" || got[1].ID != "c2" {
			t.Fatalf("page of a's commands: %v (total %d), %v; want c4, c2 of 4", ids(got), total, err)
		}
		got, total, _ = s.Commands(ctx, CommandFilter{BulkID: "bulk-1"})
		if total != 1 || got[0].ID != "c6" {
			t.Fatalf("by bulk: %v", ids(got))
		}
		if _, total, _ := s.Commands(ctx, CommandFilter{State: CommandConfirmed}); total != 0 {
			t.Fatalf("%d confirmed, want 0", total)
		}
	})

	t.Run("Audit", func(t *testing.T) {
		s := open(t)
		rows := []AuditEntry{
			{At: base, Actor: alice, Action: "stop", Collector: "r1", Org: "acme", Team: "red", Result: ResultPending},
			{At: base.Add(time.Minute), Actor: Actor{Kind: ActorToken, Name: "bob"}, Action: "restart", Collector: "b1", Org: "acme", Team: "blue", Result: ResultOK},
			{At: base.Add(2 * time.Minute), Actor: Actor{Kind: ActorReconciler, Name: "reconciler"}, Action: "stop", Collector: "r1", Org: "acme", Team: "red"},
			{At: base.Add(3 * time.Minute), Actor: alice, Action: "register", Collector: "g1", Org: "globex", Params: json.RawMessage(`{"url":"http://x"}`)},
			{At: base.Add(4 * time.Minute), Actor: Actor{Kind: ActorSystem, Name: "key-rotation"}, Action: "rotate-server-key"},
		}
		var first int64
		for i, r := range rows {
			id, err := s.AppendAudit(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = id
			}
		}
		if err := s.FinishAudit(ctx, first, ResultOK, "", base.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishAudit(ctx, first, ResultFailed, "again", base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name  string
			f     AuditFilter
			want  []string // collectors, in order
			total int
		}{
			{"none without scope", AuditFilter{}, nil, 0},
			{"all", AuditFilter{All: true}, []string{"", "g1", "r1", "b1", "r1"}, 5},
			{"ascending page", AuditFilter{All: true, Ascending: true, Limit: 2, Offset: 1}, []string{"b1", "r1"}, 5},
			{"collector", AuditFilter{All: true, Collector: "r1"}, []string{"r1", "r1"}, 2},
			{"action", AuditFilter{All: true, Action: "restart"}, []string{"b1"}, 1},
			{"actor", AuditFilter{All: true, Actor: "alice"}, []string{"g1", "r1"}, 2},
			{"result", AuditFilter{All: true, Result: ResultOK}, []string{"b1", "r1"}, 2},
			{"since until", AuditFilter{All: true, Since: base.Add(time.Minute), Until: base.Add(2 * time.Minute)}, []string{"r1", "b1"}, 2},
			{"org scope", AuditFilter{Scopes: []Scope{{Org: "acme"}}}, []string{"r1", "b1", "r1"}, 3},
			{"team scope", AuditFilter{Scopes: []Scope{{Org: "acme", Team: "red"}, {Org: "globex"}}}, []string{"g1", "r1", "r1"}, 3},
			{"team scope and action", AuditFilter{Scopes: []Scope{{Org: "acme", Team: "blue"}}, Action: "stop"}, nil, 0},
		} {
			got, total, err := s.Audit(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var cs []string
			for _, r := range got {
				cs = append(cs, r.Collector)
			}
			if !reflect.DeepEqual(cs, tc.want) || total != tc.total {
				t.Errorf("%s: %v (total %d), want %v (total %d)", tc.name, cs, total, tc.want, tc.total)
			}
		}
		got, _, _ := s.Audit(ctx, AuditFilter{All: true, Ascending: true})
		if got[0].Result != ResultOK || !got[0].FinishedAt.Equal(ms(base.Add(time.Second))) {
			t.Errorf("finished row: %+v; want ok at +1s, finished once", got[0])
		}
		if string(got[3].Params) != `{"url":"http://x"}` || string(got[0].Params) != `{}` || got[3].Actor != alice {
			t.Errorf("params/actor round trip: %s %s %+v", got[3].Params, got[0].Params, got[3].Actor)
		}
		if n, err := s.DeleteAudit(ctx, "r1"); err != nil || n != 2 {
			t.Fatalf("DeleteAudit = %d, %v", n, err)
		}
	})

	t.Run("Desired", func(t *testing.T) {
		s := open(t)
		d := DesiredState{Collector: "pg-1", Config: map[string]json.RawMessage{"interval": json.RawMessage(`"30s"`)},
			ConfigGeneration: 4, Tags: []string{"prod", "eu"}, Group: "billing", UpdatedBy: "alice", UpdatedAt: base}
		if err := s.SetDesired(ctx, d); err != nil {
			t.Fatal(err)
		}
		d.Run, d.Reason = DesiredPaused, "upgrade"
		if err := s.SetDesired(ctx, d); err != nil {
			t.Fatal(err)
		}
		if err := s.SetDesired(ctx, DesiredState{Collector: "a-0"}); err != nil {
			t.Fatal(err)
		}
		got, err := s.DesiredStates(ctx)
		if err != nil || len(got) != 2 {
			t.Fatalf("%+v, %v", got, err)
		}
		want := d
		want.UpdatedAt = ms(base)
		if !reflect.DeepEqual(got[1], want) {
			t.Fatalf("got %+v\nwant %+v", got[1], want)
		}
		if got[0].Config == nil || got[0].Tags != nil || got[0].Run != "" {
			t.Fatalf("empty desired state read back as %+v", got[0])
		}
		of, err := s.DesiredStatesOf(ctx, []string{"pg-1", "nobody"})
		if err != nil || len(of) != 1 || !reflect.DeepEqual(of[0], want) {
			t.Fatalf("DesiredStatesOf = %+v, %v", of, err)
		}
		if of, err := s.DesiredStatesOf(ctx, nil); err != nil || len(of) != 0 {
			t.Fatalf("DesiredStatesOf(nil) = %+v, %v", of, err)
		}
	})

	t.Run("UnregisterArchive", func(t *testing.T) {
		s := open(t)
		seedCollector(t, s, "reg-1", base)
		if err := s.Register(ctx, RegisteredCollector{ID: "reg-1", Name: "reg-1", URL: "http://h:1/metrics", Token: "tok-1", TokenSHA256: "ab"}); err != nil {
			t.Fatal(err)
		}
		if err := s.SubmitCommand(ctx, Command{ID: "open-1", Collector: "reg-1", Command: "collect", State: CommandSent, ExpiresAt: base.Add(time.Hour), Actor: alice},
			AuditEntry{Actor: alice, Action: "collect", Collector: "reg-1", Result: ResultPending}, &DesiredState{Collector: "reg-1", Run: DesiredPaused}); err != nil {
			t.Fatal(err)
		}
		records, err := s.CountCollectorData(ctx, "reg-1")
		if err != nil || records != 5 { // 2 status changes, 1 bucket, 1 log record, 1 collector row
			t.Fatalf("CountCollectorData = %d, %v; want 5", records, err)
		}
		a := ArchivedCollector{ID: "arc-1", Collector: "reg-1", Provider: "registry", URL: "http://h:1/metrics", Labels: map[string]string{"env": "prod"},
			Org: "acme", Reason: "decommissioned", ArchivedBy: "alice", ArchivedAt: base, MetricsArchived: true, RetainUntil: base.Add(90 * 24 * time.Hour), Records: records}
		if err := s.Unregister(ctx, a, AuditEntry{Actor: alice, Action: "unregister", Collector: "reg-1", Result: ResultOK}); err != nil {
			t.Fatal(err)
		}
		if err := s.Unregister(ctx, ArchivedCollector{ID: "arc-2", Collector: "reg-1"}, AuditEntry{Actor: alice, Action: "unregister"}); !errors.Is(err, ErrExists) {
			t.Fatalf("second unregister: %v, want ErrExists", err)
		}
		if l, _ := s.ListRegistered(ctx); len(l) != 0 {
			t.Fatalf("registry still lists %+v", l)
		}
		if ds, _ := s.DesiredStates(ctx); len(ds) != 0 {
			t.Fatalf("desired state kept: %+v", ds)
		}
		c, _ := s.Command(ctx, "open-1")
		if c.State != CommandFailed || c.Error == "" || c.FinishedAt.IsZero() {
			t.Fatalf("open command after unregister: %+v", c)
		}
		if n, _ := s.CountCollectorData(ctx, "reg-1"); n != 5 {
			t.Fatalf("archived data: %d rows, want 5 kept", n)
		}
		list, err := s.ArchivedCollectors(ctx, false)
		if err != nil || len(list) != 1 {
			t.Fatalf("archived: %+v, %v", list, err)
		}
		want := a
		want.ArchivedAt, want.RetainUntil = ms(base), ms(a.RetainUntil)
		if !reflect.DeepEqual(list[0], want) {
			t.Fatalf("archive read back\n%+v\nwant\n%+v", list[0], want)
		}

		// Nothing is due yet; then the retention ends and the data goes, the audit stays.
		if done, err := s.PurgeExpiredArchives(ctx, base.Add(time.Hour)); err != nil || len(done) != 0 {
			t.Fatalf("early purge: %+v, %v", done, err)
		}
		done, err := s.PurgeExpiredArchives(ctx, base.Add(91*24*time.Hour))
		if err != nil || len(done) != 1 || done[0].PurgedAt.IsZero() {
			t.Fatalf("purge: %+v, %v", done, err)
		}
		if n, _ := s.CountCollectorData(ctx, "reg-1"); n != 0 {
			t.Fatalf("%d data rows after the purge", n)
		}
		if n := count(t, s, "audit_log"); n != 2 {
			t.Fatalf("%d audit rows after the purge, want 2 kept", n)
		}
		if done, _ := s.PurgeExpiredArchives(ctx, base.Add(92*24*time.Hour)); len(done) != 0 {
			t.Fatalf("purged twice: %+v", done)
		}

		// Re-registered with a new token: the registry lists it again.
		r := RegisteredCollector{ID: "reg-1", Name: "reg-1", URL: "http://h:1/metrics", Token: "tok-2", TokenSHA256: "cd"}
		back, err := s.Reregister(ctx, Reregistration{ArchiveID: "arc-1", By: "bob", At: base.Add(100 * 24 * time.Hour), Fresh: true, Registry: &r},
			AuditEntry{Actor: alice, Action: "re-register", Collector: "reg-1"})
		if err != nil || back.ReregisteredBy != "bob" || back.Active() {
			t.Fatalf("re-register: %+v, %v", back, err)
		}
		if l, _ := s.ListRegistered(ctx); len(l) != 1 || l[0].Token != "tok-2" {
			t.Fatalf("registry after re-register: %+v", l)
		}
		if _, err := s.Reregister(ctx, Reregistration{ArchiveID: "arc-1"}, AuditEntry{Action: "re-register"}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("re-register twice: %v, want ErrNotFound", err)
		}
		if list, _ := s.ArchivedCollectors(ctx, false); len(list) != 0 {
			t.Fatalf("still archived: %+v", list)
		}
		if all, _ := s.ArchivedCollectors(ctx, true); len(all) != 1 {
			t.Fatalf("all archives: %+v", all)
		}
		// And it can be unregistered again, as a new archive.
		if err := s.Unregister(ctx, ArchivedCollector{ID: "arc-3", Collector: "reg-1", Provider: "registry"}, AuditEntry{Actor: alice, Action: "unregister"}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("UnregisterDelete", func(t *testing.T) {
		s := open(t)
		seedCollector(t, s, "fs-1", base)
		if _, err := s.AppendAudit(ctx, AuditEntry{Actor: alice, Action: "restart", Collector: "fs-1"}); err != nil {
			t.Fatal(err)
		}
		seedCollector(t, s, "other", base)
		a := ArchivedCollector{ID: "arc-1", Collector: "fs-1", Provider: "file_sd", Source: "/etc/sd/a.yml", ArchivedAt: base}
		if err := s.Unregister(ctx, a, AuditEntry{Actor: alice, Action: "unregister", Collector: "fs-1"}); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.CountCollectorData(ctx, "fs-1"); n != 0 {
			t.Fatalf("%d data rows after unregister & delete", n)
		}
		if cs, _ := s.LogCursors(ctx); len(cs) != 1 || cs[0].Collector != "other" {
			t.Fatalf("log cursors after delete: %+v", cs)
		}
		if n, _ := s.CountCollectorData(ctx, "other"); n != 5 {
			t.Fatalf("another collector's data touched: %d rows", n)
		}
		if rows, total, _ := s.Audit(ctx, AuditFilter{All: true, Collector: "fs-1"}); total != 2 {
			t.Fatalf("audit rows %+v: want the old one kept and the unregister appended", rows)
		}
		got, _ := s.ArchivedCollector(ctx, "arc-1")
		if got.PurgedAt.IsZero() || got.MetricsArchived {
			t.Fatalf("deleted-now archive: %+v", got)
		}
		// Asked to: the audit rows go too (the unregister row is appended after).
		seedCollector(t, s, "fs-2", base)
		if _, err := s.AppendAudit(ctx, AuditEntry{Actor: alice, Action: "restart", Collector: "fs-2"}); err != nil {
			t.Fatal(err)
		}
		if err := s.Unregister(ctx, ArchivedCollector{ID: "arc-2", Collector: "fs-2", DeleteAudit: true}, AuditEntry{Actor: alice, Action: "unregister", Collector: "fs-2"}); err != nil {
			t.Fatal(err)
		}
		if rows, total, _ := s.Audit(ctx, AuditFilter{All: true, Collector: "fs-2"}); total != 1 || rows[0].Action != "unregister" {
			t.Fatalf("audit rows after delete_audit: %+v", rows)
		}
		if _, err := s.ArchivedCollector(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown archive: %v", err)
		}
	})

	t.Run("Bulk", func(t *testing.T) {
		s := open(t)
		b := BulkOperation{ID: "bulk-1", Action: "restart", Request: json.RawMessage(`{"collector_ids":["a"]}`), State: BulkScheduled,
			ScheduleAt: base.Add(time.Hour), CreatedAt: base, Actor: alice}
		if err := s.CreateBulk(ctx, b, AuditEntry{Actor: alice, Action: "bulk-action"}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateBulk(ctx, b, AuditEntry{Actor: alice, Action: "bulk-action"}); !errors.Is(err, ErrExists) {
			t.Fatalf("duplicate: %v", err)
		}
		if rows, _, _ := s.Audit(ctx, AuditFilter{All: true}); len(rows) != 1 || rows[0].BulkID != "bulk-1" {
			t.Fatalf("audit %+v", rows)
		}
		ok, err := s.ClaimBulk(ctx, "bulk-1", base.Add(time.Hour))
		if err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
		if ok, _ := s.ClaimBulk(ctx, "bulk-1", base.Add(time.Hour)); ok {
			t.Fatal("claimed twice")
		}
		if ok, _ := s.CancelBulk(ctx, "bulk-1", base, AuditEntry{Action: "bulk-cancel"}); ok {
			t.Fatal("cancelled a running operation")
		}
		if err := s.FinishBulk(ctx, "bulk-1", BulkDone, json.RawMessage(`{"total":1}`), "", base.Add(time.Hour+time.Second)); err != nil {
			t.Fatal(err)
		}
		got, err := s.Bulk(ctx, "bulk-1")
		if err != nil || got.State != BulkDone || string(got.Result) != `{"total":1}` || !got.StartedAt.Equal(ms(base.Add(time.Hour))) ||
			!got.ScheduleAt.Equal(ms(base.Add(time.Hour))) || got.Actor != alice {
			t.Fatalf("bulk read back: %+v, %v", got, err)
		}
		b2 := b
		b2.ID, b2.CreatedAt = "bulk-2", base.Add(time.Second)
		if err := s.CreateBulk(ctx, b2, AuditEntry{Actor: alice, Action: "bulk-action"}); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.CancelBulk(ctx, "bulk-2", base, AuditEntry{Actor: alice, Action: "bulk-cancel"}); !ok || err != nil {
			t.Fatalf("cancel: %v %v", ok, err)
		}
		if ok, _ := s.ClaimBulk(ctx, "bulk-2", base); ok {
			t.Fatal("claimed a cancelled operation")
		}
		all, _ := s.Bulks(ctx, "", 0)
		sched, _ := s.Bulks(ctx, BulkScheduled, 0)
		if len(all) != 2 || all[0].ID != "bulk-2" || len(sched) != 0 {
			t.Fatalf("Bulks: %+v / %+v", all, sched)
		}
		if _, err := s.Bulk(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown: %v", err)
		}
	})

	t.Run("ServerKeys", func(t *testing.T) {
		s := open(t)
		k1 := ServerKey{KID: "k1", PrivateKeyPEM: "pem1", PublicKey: "ed25519:1", State: KeyActive, CreatedAt: base, ActivatedAt: base}
		if ok, err := s.AddServerKey(ctx, k1); !ok || err != nil {
			t.Fatalf("add: %v %v", ok, err)
		}
		if ok, err := s.AddServerKey(ctx, ServerKey{KID: "k1b", PrivateKeyPEM: "p", PublicKey: "ed25519:x", State: KeyActive}); ok || err != nil {
			t.Fatalf("second active key: %v %v; want refused", ok, err)
		}
		if ok, _ := s.AddServerKey(ctx, ServerKey{KID: "k2", PrivateKeyPEM: "pem2", PublicKey: "ed25519:2", State: KeyNext, CreatedAt: base.Add(time.Second)}); !ok {
			t.Fatal("next key refused")
		}
		if err := s.PromoteServerKey(ctx, "k2", base.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.PromoteServerKey(ctx, "k2", base.Add(time.Minute)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("promote twice: %v", err)
		}
		keys, err := s.ServerKeys(ctx)
		if err != nil || len(keys) != 2 || keys[0].State != KeyRetired || keys[1].State != KeyActive || keys[1].PrivateKeyPEM != "pem2" ||
			!keys[0].RetiredAt.Equal(ms(base.Add(time.Minute))) {
			t.Fatalf("keys %+v, %v", keys, err)
		}
		if err := s.RetireServerKey(ctx, "k2", base); err != nil {
			t.Fatal(err)
		}
		if err := s.RetireServerKey(ctx, "k2", base); !errors.Is(err, ErrNotFound) {
			t.Fatalf("retire twice: %v", err)
		}
	})
}

// seedCollector gives a collector two status changes, a bucket and a state row.
func seedCollector(t *testing.T, s *Store, id string, at time.Time) {
	t.Helper()
	ctx := context.Background()
	if err := s.AppendStatusChanges(ctx, []fleet.StatusChange{{Collector: id, From: "unknown", To: "online", At: at}, {Collector: id, From: "online", To: "paused", At: at.Add(time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertBuckets(ctx, []fleet.Bucket{{Collector: id, Window: "1h", Start: at.Truncate(time.Hour), ExpectedItems: 10, ActualItems: 9, ActiveSeconds: 60, ScrapesOK: 1, ScrapesTotal: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertCollectors(ctx, []fleet.CollectorState{{ID: id, Job: "j", Status: "paused"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendLogs(ctx, LogCursor{Collector: id, Stream: "s1", Cursor: 1},
		[]LogRecord{{Stream: "s1", Cursor: 1, Time: at, Level: "INFO", Message: "collected"}}); err != nil {
		t.Fatal(err)
	}
}

func ids(cs []Command) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func TestCommandScopes(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := openStore(t, b.url(t))
			ctx := context.Background()
			for i, sc := range []Scope{{"acme", "red"}, {"acme", "blue"}, {"globex", ""}} {
				c := Command{ID: fmt.Sprintf("c%d", i), Collector: sc.Org + "-" + sc.Team, Command: "collect", State: CommandPending,
					ExpiresAt: time.Now().Add(time.Hour), Org: sc.Org, Team: sc.Team, Actor: Actor{Kind: ActorUser, Name: "a"}}
				if err := s.SubmitCommand(ctx, c, AuditEntry{Action: "collect", Actor: c.Actor}, nil); err != nil {
					t.Fatal(err)
				}
			}
			for _, tc := range []struct {
				f    CommandFilter
				want int
			}{
				{CommandFilter{}, 3},
				{CommandFilter{Scoped: true}, 0},
				{CommandFilter{Scoped: true, Scopes: []Scope{{Org: "acme"}}}, 2},
				{CommandFilter{Scoped: true, Scopes: []Scope{{Org: "acme", Team: "blue"}, {Org: "globex"}}}, 2},
			} {
				if _, total, err := s.Commands(ctx, tc.f); err != nil || total != tc.want {
					t.Errorf("%+v: %d, %v; want %d", tc.f, total, err, tc.want)
				}
			}
		})
	}
}

func TestNextToken(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := openStore(t, b.url(t))
			ctx := context.Background()
			if err := s.Register(ctx, RegisteredCollector{ID: "r1", Name: "r1", URL: "http://h:1/metrics", Token: "t1", TokenSHA256: "s1"}); err != nil {
				t.Fatal(err)
			}
			if err := s.SetNextToken(ctx, "nope", "t2"); !errors.Is(err, ErrNotFound) {
				t.Errorf("unknown: %v", err)
			}
			if err := s.SetNextToken(ctx, "r1", "t2"); err != nil {
				t.Fatal(err)
			}
			if ok, err := s.PromoteNextToken(ctx, "r1", "t-other", "x"); ok || err != nil {
				t.Errorf("promote of another token: %v %v", ok, err)
			}
			if ok, err := s.PromoteNextToken(ctx, "r1", "t2", "s2"); !ok || err != nil {
				t.Fatalf("promote: %v %v", ok, err)
			}
			r, _ := s.Registered(ctx, "r1")
			if r.Token != "t2" || r.TokenSHA256 != "s2" || r.NextToken != "" {
				t.Errorf("after promotion: %+v", r)
			}
			if ok, _ := s.PromoteNextToken(ctx, "r1", "t2", "s2"); ok {
				t.Error("promoted twice")
			}
			s.SetNextToken(ctx, "r1", "t3")
			if err := s.DropNextToken(ctx, "r1", "t3"); err != nil {
				t.Fatal(err)
			}
			if r, _ := s.Registered(ctx, "r1"); r.NextToken != "" || r.Token != "t2" {
				t.Errorf("after drop: %+v", r)
			}
		})
	}
}
