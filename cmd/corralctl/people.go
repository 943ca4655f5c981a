package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/corral-dev/corral/api/wire"
)

// The people commands: users, orgs, teams, role bindings, the caller's own
// password, and logout.

type usersCmd struct {
	List          usersListCmd    `cmd:"" help:"List the users you administer (org_admin: those bound in your orgs; super_admin: everyone)."`
	Add           usersAddCmd     `cmd:"" help:"Create a user. Without --password-stdin the server makes up a password and it is printed this once."`
	Show          userArg         `cmd:"" help:"Show one user and the roles of it you may see."`
	Set           usersSetCmd     `cmd:"" help:"Change a user's display name or email (your own too)."`
	Disable       usersDisableCmd `cmd:"" help:"Disable a user: its sessions end and its API tokens and WebSockets stop working at once. The last super admin cannot be disabled."`
	Enable        usersEnableCmd  `cmd:"" help:"Enable a disabled user; its API tokens work again, its sessions stay ended."`
	Delete        usersDeleteCmd  `cmd:"" help:"Delete a user with its tokens and sessions. Asks first on a terminal. The last super admin cannot be deleted."`
	ResetPassword usersResetCmd   `cmd:"" name:"reset-password" help:"Give a user a new password (an administrator of the user): made up and printed this once unless --password-stdin; its sessions end."`
}

type userArg struct {
	User   string `arg:"" help:"Username or user ID."`
	Output string `short:"o" default:"text" enum:"text,json" help:"Output: ${enum}."`
}

type usersListCmd struct {
	Output string `short:"o" default:"table" enum:"table,json" help:"Output: ${enum}."`
}

type usersAddCmd struct {
	Username      string   `arg:"" help:"Login name: 1 to 64 of letters, digits and . _ @ + -."`
	DisplayName   string   `name:"display-name" help:"The name people see."`
	Email         string   `help:"Email address."`
	Role          []string `short:"r" placeholder:"ROLE[:ORG[/TEAM]]" help:"A role to grant (repeatable): super_admin, org_admin:ORG, team_lead:ORG[/TEAM], viewer:ORG[/TEAM]."`
	PasswordStdin bool     `name:"password-stdin" help:"Read the password from stdin (8 to 1024 bytes) instead of having the server make one up."`
	Output        string   `short:"o" default:"text" enum:"text,json" help:"Output: ${enum}."`
}

type usersSetCmd struct {
	User        string  `arg:"" help:"Username or user ID."`
	DisplayName *string `name:"display-name" help:"New display name (\"\" clears it)."`
	Email       *string `help:"New email (\"\" clears it)."`
	Output      string  `short:"o" default:"text" enum:"text,json" help:"Output: ${enum}."`
}

type usersDeleteCmd struct {
	User string `arg:"" help:"Username or user ID."`
	Yes  bool   `short:"y" help:"Do not ask."`
}

type usersResetCmd struct {
	User          string `arg:"" help:"Username or user ID."`
	PasswordStdin bool   `name:"password-stdin" help:"Read the new password from stdin instead of having the server make one up."`
	Output        string `short:"o" default:"text" enum:"text,json" help:"Output: ${enum}."`
}

type passwdCmd struct {
	PasswordStdin bool `name:"password-stdin" help:"Read the old password and then the new one from stdin, one a line (else prompt on the terminal)."`
}

type logoutCmd struct{}

type orgsCmd struct {
	List   orgsListCmd   `cmd:"" help:"List the orgs you have a role in (super_admin: every org)."`
	Add    orgsAddCmd    `cmd:"" help:"Create an org (super_admin)."`
	Show   orgArg        `cmd:"" help:"Show an org."`
	Rename orgsRenameCmd `cmd:"" help:"Change an org's display name (its org_admin, super_admin)."`
	Delete orgsDeleteCmd `cmd:"" help:"Delete an org with its teams and role bindings (super_admin). Asks first on a terminal."`
}

type orgsListCmd struct {
	Output string `short:"o" default:"table" enum:"table,json" help:"Output: ${enum}."`
}

type orgArg struct {
	Org    string `arg:"" help:"Org ID."`
	Output string `short:"o" default:"text" enum:"text,json" help:"Output: ${enum}."`
}

type orgsAddCmd struct {
	ID   string `arg:"" help:"Org ID: 1 to 63 of letters, digits and . _ -; collectors are in it by their org label."`
	Name string `help:"Display name."`
}

type orgsRenameCmd struct {
	Org  string `arg:"" help:"Org ID."`
	Name string `arg:"" help:"New display name."`
}

type orgsDeleteCmd struct {
	Org string `arg:"" help:"Org ID."`
	Yes bool   `short:"y" help:"Do not ask."`
}

type teamsCmd struct {
	List   teamsListCmd   `cmd:"" help:"List the teams of an org."`
	Add    teamsAddCmd    `cmd:"" help:"Create a team (the org's org_admin, super_admin)."`
	Show   teamArg        `cmd:"" help:"Show a team."`
	Rename teamsRenameCmd `cmd:"" help:"Change a team's display name."`
	Delete teamsDeleteCmd `cmd:"" help:"Delete a team with its role bindings. Asks first on a terminal."`
}

type teamsListCmd struct {
	Org    string `arg:"" help:"Org ID."`
	Output string `short:"o" default:"table" enum:"table,json" help:"Output: ${enum}."`
}

type teamArg struct {
	Org    string `arg:"" help:"Org ID."`
	Team   string `arg:"" help:"Team ID."`
	Output string `short:"o" default:"text" enum:"text,json" help:"Output: ${enum}."`
}

type teamsAddCmd struct {
	Org  string `arg:"" help:"Org ID."`
	ID   string `arg:"" help:"Team ID: 1 to 63 of letters, digits and . _ -."`
	Name string `help:"Display name."`
}

type teamsRenameCmd struct {
	Org  string `arg:"" help:"Org ID."`
	Team string `arg:"" help:"Team ID."`
	Name string `arg:"" help:"New display name."`
}

type teamsDeleteCmd struct {
	Org  string `arg:"" help:"Org ID."`
	Team string `arg:"" help:"Team ID."`
	Yes  bool   `short:"y" help:"Do not ask."`
}

type bindCmd struct {
	User string `arg:"" help:"Username or user ID."`
	Role string `arg:"" enum:"super_admin,org_admin,team_lead,viewer" help:"Role: ${enum}."`
	Org  string `help:"The org (org_admin, team_lead, viewer)."`
	Team string `help:"The team of --org (team_lead, viewer; none: the whole org)."`
}

// parseRole reads ROLE[:ORG[/TEAM]].
func parseRole(s string) (wire.Binding, error) {
	role, scope, _ := strings.Cut(s, ":")
	org, team, _ := strings.Cut(scope, "/")
	switch role {
	case "super_admin", "org_admin", "team_lead", "viewer":
	default:
		return wire.Binding{}, badFlag("role", "%q: want super_admin, org_admin:ORG, team_lead:ORG[/TEAM] or viewer:ORG[/TEAM]", s)
	}
	return wire.Binding{Role: role, Org: org, Team: team}, nil
}

func userPath(u string, rest ...string) string {
	return "/api/v1/users/" + url.PathEscape(u) + strings.Join(rest, "")
}

func printUser(out io.Writer, u wire.User) error {
	tw := newTable(out)
	fmt.Fprintf(tw, "username:\t%s\nid:\t%s\ndisplay name:\t%s\nemail:\t%s\ncreated:\t%s\n", u.Username, u.ID, orDash(u.DisplayName),
		orDash(u.Email), localTime(&u.CreatedAt))
	state := "enabled"
	if u.Disabled {
		state = "disabled since " + localTime(u.DisabledAt)
	}
	fmt.Fprintf(tw, "state:\t%s\nroles:\t%s\n", state, rolesOf(u.Bindings))
	return tw.Flush()
}

func rolesOf(bs []wire.Binding) string {
	if len(bs) == 0 {
		return "-"
	}
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = b.Role
		if b.Org != "" {
			parts[i] += ":" + b.Org
		}
		if b.Team != "" {
			parts[i] += "/" + b.Team
		}
	}
	return strings.Join(parts, ", ")
}

// readPassword reads one line of stdin as a password.
func readPassword(r *bufio.Reader, what string) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("read %s from stdin: %w", what, err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", &badInput{msg: what + " on stdin is empty"}
	}
	return pw, nil
}

func (o usersListCmd) Run(ctx context.Context, g *globals) error {
	c, err := apiClient(g.config)
	if err != nil {
		return err
	}
	var l wire.List[wire.User]
	if printed, err := c.fetch(ctx, http.MethodGet, "/api/v1/users", nil, nil, &l, o.Output == "json", g.stdout); err != nil || printed {
		return err
	}
	tw := newTable(g.stdout)
	fmt.Fprintln(tw, "USERNAME\tDISPLAY NAME\tEMAIL\tSTATE\tROLES")
	for _, u := range l.Data {
		state := "enabled"
		if u.Disabled {
			state = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Username, orDash(u.DisplayName), orDash(u.Email), state, rolesOf(u.Bindings))
	}
	return tw.Flush()
}

func (o usersAddCmd) Run(ctx context.Context, g *globals) error {
	return usersAdd(ctx, o, g.config, g.stdin, g.stdout)
}

func usersAdd(ctx context.Context, o usersAddCmd, cfgFlag string, stdin io.Reader, out io.Writer) error {
	req := wire.UserCreate{Username: o.Username, DisplayName: o.DisplayName, Email: o.Email}
	for _, r := range o.Role {
		b, err := parseRole(r)
		if err != nil {
			return err
		}
		req.Bindings = append(req.Bindings, b)
	}
	if o.PasswordStdin {
		pw, err := readPassword(bufio.NewReader(stdin), "the password")
		if err != nil {
			return err
		}
		req.Password = pw
	}
	c, err := apiClient(cfgFlag)
	if err != nil {
		return err
	}
	var made wire.UserCreated
	if printed, err := c.fetch(ctx, http.MethodPost, "/api/v1/users", nil, req, &made, o.Output == "json", out); err != nil || printed {
		return err
	}
	fmt.Fprintf(out, "created user %s (%s) with roles %s\n", made.User.Username, made.User.ID, rolesOf(made.User.Bindings))
	if made.Password != "" {
		fmt.Fprintf(out, "password (shown this once): %s\n", made.Password)
	}
	return nil
}

type (
	usersDisableCmd userArg
	usersEnableCmd  userArg
)

func (o userArg) Run(ctx context.Context, g *globals) error {
	return userAction(ctx, "show", o, g.config, g.stdout)
}

func (o usersDisableCmd) Run(ctx context.Context, g *globals) error {
	return userAction(ctx, "disable", userArg(o), g.config, g.stdout)
}

func (o usersEnableCmd) Run(ctx context.Context, g *globals) error {
	return userAction(ctx, "enable", userArg(o), g.config, g.stdout)
}

// userAction runs users show, disable and enable.
func userAction(ctx context.Context, command string, o userArg, cfgFlag string, out io.Writer) error {
	c, err := apiClient(cfgFlag)
	if err != nil {
		return err
	}
	method, path := http.MethodGet, userPath(o.User)
	switch command {
	case "disable", "enable":
		method, path = http.MethodPost, userPath(o.User, "/"+command)
	}
	var u wire.User
	if printed, err := c.fetch(ctx, method, path, nil, nil, &u, o.Output == "json", out); err != nil || printed {
		return err
	}
	return printUser(out, u)
}

func (o usersSetCmd) Run(ctx context.Context, g *globals) error {
	if o.DisplayName == nil && o.Email == nil {
		return &badInput{msg: "nothing to change: give --display-name or --email"}
	}
	c, err := apiClient(g.config)
	if err != nil {
		return err
	}
	var u wire.User
	if printed, err := c.fetch(ctx, http.MethodPatch, userPath(o.User), nil, wire.UserChange{DisplayName: o.DisplayName, Email: o.Email},
		&u, o.Output == "json", g.stdout); err != nil || printed {
		return err
	}
	return printUser(g.stdout, u)
}

// sure asks on a terminal unless yes.
func sure(g *globals, yes bool, question string) error {
	if yes {
		return nil
	}
	var tty io.Reader
	if g.stdin != nil && isTerminal(g.stdin) {
		tty = g.stdin
	}
	ok, err := confirm(tty, g.stderr, question)
	if err != nil {
		return err
	}
	if !ok {
		return &badInput{msg: "not confirmed; nothing done"}
	}
	return nil
}

func (o usersDeleteCmd) Run(ctx context.Context, g *globals) error {
	if err := sure(g, o.Yes, "delete user "+o.User+" with its tokens and sessions?"); err != nil {
		return err
	}
	c, err := apiClient(g.config)
	if err != nil {
		return err
	}
	if err := c.do(ctx, http.MethodDelete, userPath(o.User), nil, nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "deleted user %s\n", o.User)
	return nil
}

func (o usersResetCmd) Run(ctx context.Context, g *globals) error {
	return usersReset(ctx, o, g.config, g.stdin, g.stdout)
}

func usersReset(ctx context.Context, o usersResetCmd, cfgFlag string, stdin io.Reader, out io.Writer) error {
	var req wire.PasswordReset
	if o.PasswordStdin {
		pw, err := readPassword(bufio.NewReader(stdin), "the new password")
		if err != nil {
			return err
		}
		req.Password = pw
	}
	c, err := apiClient(cfgFlag)
	if err != nil {
		return err
	}
	var done wire.PasswordResetDone
	if printed, err := c.fetch(ctx, http.MethodPost, userPath(o.User, "/reset-password"), nil, req, &done, o.Output == "json", out); err != nil || printed {
		return err
	}
	fmt.Fprintf(out, "reset the password of %s; %s ended\n", done.User.Username, plural(done.SessionsEnded, "session"))
	if done.Password != "" {
		fmt.Fprintf(out, "new password (shown this once): %s\n", done.Password)
	}
	return nil
}

func (o passwdCmd) Run(ctx context.Context, g *globals) error {
	var old, next string
	switch {
	case o.PasswordStdin:
		r := bufio.NewReader(g.stdin)
		var err error
		if old, err = readPassword(r, "the old password"); err != nil {
			return err
		}
		if next, err = readPassword(r, "the new password"); err != nil {
			return err
		}
	case g.stdin != nil && isTerminal(g.stdin):
		ask := func(prompt string) (string, error) {
			fmt.Fprint(g.stderr, prompt)
			b, err := term.ReadPassword(int(g.stdin.Fd()))
			fmt.Fprintln(g.stderr)
			return string(b), err
		}
		var err error
		if old, err = ask("old password: "); err != nil {
			return err
		}
		if next, err = ask("new password: "); err != nil {
			return err
		}
		again, err := ask("new password again: ")
		if err != nil {
			return err
		}
		if again != next {
			return &badInput{msg: "the new passwords differ; nothing changed"}
		}
	default:
		return &badInput{msg: "stdin is not a terminal: pipe the old and the new password, one a line, with --password-stdin"}
	}
	return passwd(ctx, old, next, g.config, g.stdout)
}

func passwd(ctx context.Context, old, next, cfgFlag string, out io.Writer) error {
	c, err := apiClient(cfgFlag)
	if err != nil {
		return err
	}
	if err := c.do(ctx, http.MethodPost, "/api/v1/me/password", nil, wire.PasswordChange{OldPassword: old, NewPassword: next}, nil); err != nil {
		return err
	}
	fmt.Fprintln(out, "password changed")
	return nil
}

func (logoutCmd) Run(ctx context.Context, g *globals) error { return logout(ctx, g.config, g.stdout) }

// logout revokes the API token login made (the server's side of the
// corralctl session) and forgets the local config.
func logout(ctx context.Context, cfgFlag string, out io.Writer) error {
	path, err := configPath(cfgFlag)
	if err != nil {
		return err
	}
	c, err := apiClient(cfgFlag)
	if err != nil {
		return err
	}
	var me struct {
		TokenID string `json:"token_id"`
	}
	err = c.do(ctx, http.MethodGet, "/api/v1/me", nil, nil, &me)
	var ae *apiError
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusUnauthorized:
		// Already revoked or expired: only the local part is left.
	case err != nil:
		return fmt.Errorf("%w; the local login in %s is kept (remove it by hand to forget it anyway)", err, path)
	case me.TokenID != "":
		if err := c.do(ctx, http.MethodDelete, "/api/v1/tokens/"+url.PathEscape(me.TokenID), nil, nil, nil); err != nil {
			return fmt.Errorf("revoke the token: %w; the local login in %s is kept", err, path)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	fmt.Fprintf(out, "logged out: the token is revoked on the server and %s removed\n", path)
	return nil
}

func printOrg(out io.Writer, o wire.Org) error {
	tw := newTable(out)
	fmt.Fprintf(tw, "org:\t%s\nname:\t%s\ncreated:\t%s\n", o.ID, orDash(o.Name), localTime(&o.CreatedAt))
	return tw.Flush()
}

func (o orgsListCmd) Run(ctx context.Context, g *globals) error {
	c, err := apiClient(g.config)
	if err != nil {
		return err
	}
	var l wire.List[wire.Org]
	if printed, err := c.fetch(ctx, http.MethodGet, "/api/v1/orgs", nil, nil, &l, o.Output == "json", g.stdout); err != nil || printed {
		return err
	}
	tw := newTable(g.stdout)
	fmt.Fprintln(tw, "ORG\tNAME\tCREATED")
	for _, x := range l.Data {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", x.ID, orDash(x.Name), localTime(&x.CreatedAt))
	}
	return tw.Flush()
}

func (o orgsAddCmd) Run(ctx context.Context, g *globals) error {
	c, err := apiClient(g.config)
	if err != nil {
		return err
	}
	var made wire.Org
	if err := c.do(ctx, http.MethodPost, "/api/v1/orgs", nil, wire.OrgCreate{ID: o.ID, Name: o.Name}, &made); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "created org %s\n", made.ID)
	return nil
}

func (o orgArg) Run(ctx context.Context, g *globals) error {
	c, err := apiClient(g.config)
	if err != nil {
		return err
	}
	var x wire.Org
	if printed, err := c.fetch(ctx, http.MethodGet, "/api/v1/orgs/"+url.PathEscape(o.Org), nil, nil, &x, o.Output == "json", g.stdout); err != nil || printed {
		return err
	}
	return printOrg(g.stdout, x)
}

func (o orgsRenameCmd) Run(ctx context.Context, g *globals) error {
	c, err := apiClient(g.config)
	if err != nil {
		return err
	}
	var x wire.Org
	if err := c.do(ctx, http.MethodPatch, "/api/v1/orgs/"+url.PathEscape(o.Org), nil, wire.NameChange{Name: &o.Name}, &x); err != nil {
		return err
	}
	return printOrg(g.stdout, x)
}

func (o orgsDeleteCmd) Run(ctx context.Context, g *globals) error {
	if err := sure(g, o.Yes, "delete org "+o.Org+" with its teams and role bindings?"); err != nil {
		return err
	}
	c, err := apiClient(g.config)
	if err != nil {
		return err
	}
	if err := c.do(ctx, http.MethodDelete, "/api/v1/orgs/"+url.PathEscape(o.Org), nil, nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "deleted org %s\n", o.Org)
	return nil
}

func teamPath(org, team string) string {
	p := "/api/v1/orgs/" + url.PathEscape(org) + "/teams"
	if team != "" {
		p += "/" + url.PathEscape(team)
	}
	return p
}

func printTeam(out io.Writer, t wire.Team) error {
	tw := newTable(out)
	fmt.Fprintf(tw, "team:\t%s/%s\nname:\t%s\ncreated:\t%s\n", t.Org, t.ID, orDash(t.Name), localTime(&t.CreatedAt))
	return tw.Flush()
}

func (o teamsListCmd) Run(ctx context.Context, g *globals) error {
	c, err := apiClient(g.config)
	if err != nil {
		return err
	}
	var l wire.List[wire.Team]
	if printed, err := c.fetch(ctx, http.MethodGet, teamPath(o.Org, ""), nil, nil, &l, o.Output == "json", g.stdout); err != nil || printed {
		return err
	}
	tw := newTable(g.stdout)
	fmt.Fprintln(tw, "TEAM\tNAME\tCREATED")
	for _, x := range l.Data {
		fmt.Fprintf(tw, "%s/%s\t%s\t%s\n", x.Org, x.ID, orDash(x.Name), localTime(&x.CreatedAt))
	}
	return tw.Flush()
}

func (o teamsAddCmd) Run(ctx context.Context, g *globals) error {
	c, err := apiClient(g.config)
	if err != nil {
		return err
	}
	var made wire.Team
	if err := c.do(ctx, http.MethodPost, teamPath(o.Org, ""), nil, wire.TeamCreate{ID: o.ID, Name: o.Name}, &made); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "created team %s/%s\n", made.Org, made.ID)
	return nil
}

func (o teamArg) Run(ctx context.Context, g *globals) error {
	c, err := apiClient(g.config)
	if err != nil {
		return err
	}
	var x wire.Team
	if printed, err := c.fetch(ctx, http.MethodGet, teamPath(o.Org, o.Team), nil, nil, &x, o.Output == "json", g.stdout); err != nil || printed {
		return err
	}
	return printTeam(g.stdout, x)
}

func (o teamsRenameCmd) Run(ctx context.Context, g *globals) error {
	c, err := apiClient(g.config)
	if err != nil {
		return err
	}
	var x wire.Team
	if err := c.do(ctx, http.MethodPatch, teamPath(o.Org, o.Team), nil, wire.NameChange{Name: &o.Name}, &x); err != nil {
		return err
	}
	return printTeam(g.stdout, x)
}

func (o teamsDeleteCmd) Run(ctx context.Context, g *globals) error {
	if err := sure(g, o.Yes, "delete team "+o.Org+"/"+o.Team+" with its role bindings?"); err != nil {
		return err
	}
	c, err := apiClient(g.config)
	if err != nil {
		return err
	}
	if err := c.do(ctx, http.MethodDelete, teamPath(o.Org, o.Team), nil, nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "deleted team %s/%s\n", o.Org, o.Team)
	return nil
}

type unbindCmd bindCmd

func (o bindCmd) Run(ctx context.Context, g *globals) error {
	return bind(ctx, o, true, g.config, g.stdout)
}

func (o unbindCmd) Run(ctx context.Context, g *globals) error {
	return bind(ctx, bindCmd(o), false, g.config, g.stdout)
}

// bind grants (or takes back) a role.
func bind(ctx context.Context, o bindCmd, grant bool, cfgFlag string, out io.Writer) error {
	if o.Team != "" && o.Org == "" {
		return badFlag("team", "goes with --org")
	}
	c, err := apiClient(cfgFlag)
	if err != nil {
		return err
	}
	b := wire.Binding{Role: o.Role, Org: o.Org, Team: o.Team}
	what := rolesOf([]wire.Binding{b})
	if grant {
		if err := c.do(ctx, http.MethodPost, userPath(o.User, "/bindings"), nil, b, nil); err != nil {
			return err
		}
		fmt.Fprintf(out, "granted %s to %s\n", what, o.User)
		return nil
	}
	q := url.Values{"role": {o.Role}}
	if o.Org != "" {
		q.Set("org", o.Org)
	}
	if o.Team != "" {
		q.Set("team", o.Team)
	}
	if err := c.do(ctx, http.MethodDelete, userPath(o.User, "/bindings"), q, nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(out, "took %s from %s\n", what, o.User)
	return nil
}
