package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/store"
)

// TestKeys: a super admin sees the key and rotates it through corralctl; the
// agent acknowledges the next key and the server switches to it, and still
// steers the agent. A viewer may not.
func TestKeys(t *testing.T) {
	f := newFleet(t)
	live := f.agent("live-1", "")
	addUsers(t, f.storage) // before the server starts, which then makes no admin
	f.start()
	ctx := context.Background()
	status := func() (wire.Rotation, string, int) {
		out, code := run(t, func(out *bytes.Buffer) error { return keysStatus(ctx, keysStatusCmd{Output: "json"}, f.cfg, out) })
		var r wire.Rotation
		if code == 0 {
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
		}
		return r, out, code
	}

	out, code := run(t, func(out *bytes.Buffer) error { return keysStatus(ctx, keysStatusCmd{Output: "text"}, f.cfg, out) })
	if code != 0 || !regexp.MustCompile(`^active key [0-9a-f]+, signing since \S+ \S+: ed25519:\S+\nno rotation in progress\n$`).MatchString(out) {
		t.Fatalf("status: exit %d: %q", code, out)
	}
	before, _, _ := status()

	if _, code := run(t, func(out *bytes.Buffer) error { return keysRotate(ctx, keysRotateCmd{Complete: true}, f.cfg, out) }); code != 1 {
		t.Errorf("complete with no rotation: exit %d, want 1 (conflict)", code)
	}
	if _, code := run(t, func(out *bytes.Buffer) error { return keysRotate(ctx, keysRotateCmd{Force: true}, f.cfg, out) }); code != 2 {
		t.Errorf("--force without --complete: exit %d", code)
	}
	out, code = run(t, func(out *bytes.Buffer) error { return keysRotate(ctx, keysRotateCmd{Output: "text"}, f.cfg, out) })
	if code != 0 || !strings.Contains(out, "rotating to ") && !strings.Contains(out, "no rotation in progress") {
		t.Fatalf("rotate: exit %d:\n%s", code, out)
	}
	// One agent: once it acknowledged the next key the server switches by itself.
	var after wire.Rotation
	waitFor(t, 10*time.Second, "the server signs with the next key", func() bool {
		after, _, _ = status()
		return !after.InProgress && after.Active != nil && after.Active.KID != before.Active.KID
	})
	if out, code := run(t, func(out *bytes.Buffer) error {
		return act(ctx, "stop", actionFlags{ID: "live-1", Wait: "confirmed", Output: "text"}, nil, f.cfg, out)
	}); code != 0 || !live.Paused() {
		t.Errorf("stop with the new key: exit %d: %q", code, out)
	}

	// A viewer may read collectors but not the keys, nor act.
	viewerCfg := filepath.Join(t.TempDir(), "viewer.json")
	if err := login(ctx, loginCmd{Server: f.base, Username: "viewer", PasswordStdin: true, ExpiresInDays: 1}, viewerCfg, strings.NewReader(adminPassword+"\n"), io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, code := run(t, func(out *bytes.Buffer) error { return keysStatus(ctx, keysStatusCmd{Output: "text"}, viewerCfg, out) }); code != 4 {
		t.Errorf("viewer keys status: exit %d, want 4", code)
	}
	if _, code := run(t, func(out *bytes.Buffer) error {
		return act(ctx, "resume", actionFlags{ID: "live-1", Wait: "ack"}, nil, viewerCfg, out)
	}); code != 4 {
		t.Errorf("viewer resume: exit %d, want 4", code)
	}
}

// addUsers adds admin (super admin) and viewer (a viewer of org default) to
// the store.
func addUsers(t *testing.T, storage string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateOrg(ctx, store.Org{ID: "default", Name: "default"}); err != nil {
		t.Fatal(err)
	}
	hash, err := auth.HashPassword(adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]store.RoleBinding{"admin": {Role: store.RoleSuperAdmin}, "viewer": {Role: "viewer", Org: "default"}} {
		if _, err := st.CreateUser(ctx, store.User{Username: name, PasswordHash: hash}, b); err != nil {
			t.Fatal(err)
		}
	}
}
