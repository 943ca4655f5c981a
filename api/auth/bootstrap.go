package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/corral-dev/corral/store"
)

// The first user and the org it is created in.
const (
	AdminUsername = "admin"
	DefaultOrg    = "default"
)

// Bootstrap prepares a fresh store: if no user exists, it creates the org
// "default" and the user "admin" with the super_admin role and password, or a
// generated password when password is empty. It reports whether it created the
// user and returns the generated password, for the caller to show once; it never
// logs it. With users present it does nothing, so it is safe at every start.
func (a *Authenticator) Bootstrap(ctx context.Context, password string) (created bool, generated string, err error) {
	has, err := a.st.HasUsers(ctx)
	if err != nil {
		return false, "", fmt.Errorf("bootstrap: %w", err)
	}
	if has {
		return false, "", nil
	}
	if password == "" {
		generated = newSecret(18) // 24 characters, 144 bits
		password = generated
	}
	hash, err := hashPassword(password, a.params)
	if err != nil {
		return false, "", fmt.Errorf("bootstrap: %w", err)
	}
	if err := a.st.CreateOrg(ctx, store.Org{ID: DefaultOrg, Name: "Default", CreatedAt: a.now()}); err != nil && !errors.Is(err, store.ErrExists) {
		return false, "", fmt.Errorf("bootstrap: %w", err)
	}
	_, err = a.st.CreateUser(ctx, store.User{Username: AdminUsername, PasswordHash: hash, CreatedAt: a.now()},
		store.RoleBinding{Role: store.RoleSuperAdmin})
	if errors.Is(err, store.ErrExists) {
		return false, "", nil // another server got there first
	}
	if err != nil {
		return false, "", fmt.Errorf("bootstrap: %w", err)
	}
	a.log.Info("created the first user", "user", AdminUsername, "role", SuperAdmin, "org", DefaultOrg,
		"password_generated", generated != "")
	return true, generated, nil
}
