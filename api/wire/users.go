package wire

import "time"

// The people routes: users, orgs, teams and role bindings (GET/POST /users,
// /orgs, /orgs/{org}/teams, /users/{id}/bindings, /bindings) and the caller's
// own password (POST /me/password).

// Binding grants a role in a scope: super_admin has no org and no team,
// org_admin an org, team_lead and viewer an org and optionally one of its teams.
type Binding struct {
	Role string `json:"role"`
	Org  string `json:"org,omitempty"`
	Team string `json:"team,omitempty"`
}

// User is a user as the API shows it: never its password or its hash.
type User struct {
	ID          string     `json:"id"`
	Username    string     `json:"username"`
	DisplayName string     `json:"display_name"`
	Email       string     `json:"email"`
	CreatedAt   time.Time  `json:"created_at"`
	Disabled    bool       `json:"disabled"`
	DisabledAt  *time.Time `json:"disabled_at,omitempty"`
	Bindings    []Binding  `json:"bindings"`
}

// UserCreate is the body of POST /users. Without Password the server makes
// one up and answers it once in [UserCreated].
type UserCreate struct {
	Username    string    `json:"username"`
	Password    string    `json:"password,omitempty"`
	DisplayName string    `json:"display_name,omitempty"`
	Email       string    `json:"email,omitempty"`
	Bindings    []Binding `json:"bindings,omitempty"`
}

// UserCreated answers POST /users; Password is set only when the server made
// it up, and is shown this once.
type UserCreated struct {
	User     User   `json:"user"`
	Password string `json:"password,omitempty"`
}

// UserChange is the body of PATCH /users/{id}; absent fields stay as they are.
type UserChange struct {
	DisplayName *string `json:"display_name,omitempty"`
	Email       *string `json:"email,omitempty"`
	Disabled    *bool   `json:"disabled,omitempty"`
}

// PasswordReset is the body of POST /users/{id}/reset-password (may be
// empty): without Password the server makes one up.
type PasswordReset struct {
	Password string `json:"password,omitempty"`
}

// PasswordResetDone answers a reset; Password is set only when the server made
// it up, and is shown this once.
type PasswordResetDone struct {
	User     User   `json:"user"`
	Password string `json:"password,omitempty"`
	// SessionsEnded counts the user's browser sessions the reset logged out.
	SessionsEnded int `json:"sessions_ended"`
}

// PasswordChange is the body of POST /me/password.
type PasswordChange struct {
	OldPassword string `json:"old_password"`
	NewPassword string `json:"new_password"`
}

// Org is an organisation.
type Org struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// OrgCreate is the body of POST /orgs, TeamCreate of POST /orgs/{org}/teams.
type OrgCreate struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// TeamCreate is the body of POST /orgs/{org}/teams.
type TeamCreate = OrgCreate

// NameChange is the body of PATCH /orgs/{org} and /orgs/{org}/teams/{team}.
type NameChange struct {
	Name *string `json:"name"`
}

// Team is a team of an org.
type Team struct {
	Org       string    `json:"org"`
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// UserBinding is one role binding of one user (GET /bindings).
type UserBinding struct {
	UserID   string `json:"user_id"`
	Username string `json:"username"`
	Binding
}
