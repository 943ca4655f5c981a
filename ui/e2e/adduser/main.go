// Command adduser adds a user with one role binding straight to corral's store,
// for the UI's end-to-end tests, which need a viewer. Test-only: it is to be
// replaced by the users API (POST /api/v1/users) once that exists.
//
//	go run ./ui/e2e/adduser --storage.url sqlite:/tmp/x/corral.db --username view --role viewer --org default < password
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/store"
)

func main() {
	url := flag.String("storage.url", "", "the store corral uses (sqlite:PATH or postgres://…)")
	username := flag.String("username", "", "the new user's name")
	role := flag.String("role", store.RoleViewer, "super_admin, org_admin, team_lead or viewer")
	org := flag.String("org", auth.DefaultOrg, "the binding's org (not for super_admin)")
	team := flag.String("team", "", "the binding's team (team_lead, viewer; empty: the whole org)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: adduser --storage.url URL --username NAME [--role R] [--org O] [--team T] < password-file")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *url == "" || *username == "" {
		flag.Usage()
		os.Exit(2)
	}
	pw, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		fail(err)
	}
	pw = strings.TrimRight(pw, "\r\n")
	if pw == "" {
		fail(fmt.Errorf("no password on standard input"))
	}
	ctx := context.Background()
	st, err := store.Open(ctx, *url, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		fail(err)
	}
	defer st.Close()
	hash, err := auth.HashPassword(pw)
	if err != nil {
		fail(err)
	}
	b := store.RoleBinding{Role: *role, Org: *org, Team: *team}
	if *role == store.RoleSuperAdmin {
		b.Org, b.Team = "", ""
	}
	if err := store.ValidateBinding(b); err != nil {
		fail(err)
	}
	u, err := st.CreateUser(ctx, store.User{Username: *username, PasswordHash: hash, CreatedAt: time.Now()}, b)
	if err != nil {
		fail(err)
	}
	fmt.Println(u.ID)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "adduser:", err)
	os.Exit(1)
}
