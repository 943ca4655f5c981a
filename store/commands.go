package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/corral-dev/corral/api/wire"
)

// Command states. A command is created pending, sent when a delivery attempt
// starts, acknowledged when the agent answered that it carried it out, and
// confirmed once a scrape shows the effect; it fails when the agent refuses it
// and expires when it could not be delivered (or confirmed) in time.
// They are named once, in package wire, where the API's clients read them.
const (
	CommandPending      = wire.CommandPending
	CommandSent         = wire.CommandSent
	CommandAcknowledged = wire.CommandAcknowledged
	CommandConfirmed    = wire.CommandConfirmed
	CommandFailed       = wire.CommandFailed
	CommandExpired      = wire.CommandExpired
)

// CommandFinal reports whether state is final: confirmed, failed or expired.
func CommandFinal(state string) bool {
	return state == CommandConfirmed || state == CommandFailed || state == CommandExpired
}

// Command is one control command to one agent.
type Command struct {
	ID        string // also the request id the agent sees: idempotency across retries
	Collector string
	Command   string          // pause, resume, restart … (the agent's command names)
	Args      json.RawMessage // sent to the agent; nil is stored as {}
	State     string
	Attempts  int
	// NextAttemptAt is when the next delivery attempt is due (pending only).
	NextAttemptAt time.Time
	ExpiresAt     time.Time
	// CreatedAt is when it was created; CreateCommand uses the current time when zero.
	CreatedAt  time.Time
	SentAt     time.Time // last delivery attempt
	AckedAt    time.Time
	FinishedAt time.Time
	UpdatedAt  time.Time       // set by the store on every write
	Result     json.RawMessage // the agent's result; nil when none
	Error      string
	Progress   float64 // 0 to 1, for backfills
	// Baseline is what the server observed when the command was created, for
	// confirming its effect later (the agent's start time before a restart …).
	Baseline  json.RawMessage
	Actor     Actor
	Reason    string
	BulkID    string
	Org, Team string // the collector's scope when the command was created
}

// CommandFilter selects commands. Zero fields match everything.
type CommandFilter struct {
	Collector, State, BulkID string
	// Scoped limits the commands to those of collectors within Scopes (none
	// when Scopes is empty).
	Scoped bool
	Scopes []Scope
	Limit  int // ≤ 0: no limit
	Offset int
}

const commandColumns = `id, collector, command, args, state, attempts, next_attempt_at, expires_at, created_at,
	sent_at, acked_at, finished_at, updated_at, result, error, progress, baseline, actor_kind, actor, actor_id,
	reason, bulk_id, org, team`

// SubmitCommand creates c, appends audit for it and sets d (when not nil) in
// one transaction. An existing ID is an error wrapping ErrExists.
func (s *Store) SubmitCommand(ctx context.Context, c Command, audit AuditEntry, d *DesiredState) error {
	if c.ID == "" || c.Collector == "" || c.Command == "" || c.State == "" {
		return fmt.Errorf("submit command: id, collector, command and state are required")
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := time.Now().UnixMilli()
		created := nowOr(c.CreatedAt)
		n, err := affected(tx.ExecContext(ctx, `INSERT INTO commands (`+commandColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)
ON CONFLICT (id) DO NOTHING`,
			text(c.ID), text(c.Collector), text(c.Command), text(rawOr(c.Args, "{}")), text(c.State), c.Attempts,
			millis(c.NextAttemptAt), c.ExpiresAt.UnixMilli(), created, millis(c.SentAt), millis(c.AckedAt),
			millis(c.FinishedAt), now, text(rawOr(c.Result, "")), text(c.Error), c.Progress, text(rawOr(c.Baseline, "{}")),
			text(c.Actor.Kind), text(c.Actor.Name), text(c.Actor.UserID), text(c.Reason), text(c.BulkID), text(c.Org), text(c.Team)))
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("command %q: %w", c.ID, ErrExists)
		}
		audit.CommandID = c.ID
		if _, err := appendAudit(ctx, tx, audit); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		if d != nil {
			if err := setDesired(ctx, tx, *d); err != nil {
				return fmt.Errorf("desired state: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("submit %s to %s: %w", c.Command, c.Collector, err)
	}
	return nil
}

// UpdateCommand writes the fields of c that change over its life (state,
// attempts, times, result, error, progress). When c's state is final it also
// finishes the command's audit row, in the same transaction. An unknown ID is
// an error wrapping ErrNotFound.
func (s *Store) UpdateCommand(ctx context.Context, c Command) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		n, err := affected(tx.ExecContext(ctx, `UPDATE commands SET state = $2, attempts = $3, next_attempt_at = $4,
	expires_at = $5, sent_at = $6, acked_at = $7, finished_at = $8, updated_at = $9, result = $10, error = $11,
	progress = $12
WHERE id = $1`, text(c.ID), text(c.State), c.Attempts, millis(c.NextAttemptAt), c.ExpiresAt.UnixMilli(), millis(c.SentAt),
			millis(c.AckedAt), millis(c.FinishedAt), time.Now().UnixMilli(), text(rawOr(c.Result, "")), text(c.Error), c.Progress))
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		if CommandFinal(c.State) {
			return finishCommandAudit(ctx, tx, c.ID, c.State, c.Error, c.FinishedAt)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("update command %q: %w", c.ID, err)
	}
	return nil
}

// Command returns command id, or an error wrapping ErrNotFound.
func (s *Store) Command(ctx context.Context, id string) (Command, error) {
	c, err := scanCommand(s.db.QueryRowContext(ctx, `SELECT `+commandColumns+` FROM commands WHERE id = $1`, text(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return Command{}, fmt.Errorf("command %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Command{}, fmt.Errorf("read command %q: %w", id, err)
	}
	return c, nil
}

// OpenCommands returns the commands that are not final, oldest first.
func (s *Store) OpenCommands(ctx context.Context) ([]Command, error) {
	return queryAll(ctx, s, "read open commands", `SELECT `+commandColumns+` FROM commands
WHERE state IN ('pending', 'sent', 'acknowledged') ORDER BY created_at, id`, nil, scanCommand)
}

// Commands returns the commands matching f, newest first, and how many match in all.
func (s *Store) Commands(ctx context.Context, f CommandFilter) ([]Command, int, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	for _, c := range []struct{ col, v string }{{"collector", f.Collector}, {"state", f.State}, {"bulk_id", f.BulkID}} {
		if c.v != "" {
			where = append(where, c.col+" = "+arg(text(c.v)))
		}
	}
	if f.Scoped {
		where = append(where, scopeCond(f.Scopes, arg))
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM commands`+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count commands: %w", err)
	}
	args = append(args, limitOrAll(f.Limit), int64(max(0, f.Offset)))
	out, err := queryAll(ctx, s, "read commands", fmt.Sprintf(`SELECT `+commandColumns+` FROM commands`+cond+
		` ORDER BY created_at DESC, id DESC LIMIT $%d OFFSET $%d`, len(args)-1, len(args)), args, scanCommand)
	return out, total, err
}

func scanCommand(sc scanner) (Command, error) {
	var (
		c                                   Command
		args, result, baseline              string
		next, sent, acked, finished         sql.NullInt64
		expires, created, updated, attempts int64
	)
	if err := sc.Scan(&c.ID, &c.Collector, &c.Command, &args, &c.State, &attempts, &next, &expires, &created,
		&sent, &acked, &finished, &updated, &result, &c.Error, &c.Progress, &baseline, &c.Actor.Kind, &c.Actor.Name,
		&c.Actor.UserID, &c.Reason, &c.BulkID, &c.Org, &c.Team); err != nil {
		return Command{}, err
	}
	c.Attempts = int(attempts)
	c.Args, c.Baseline = json.RawMessage(args), json.RawMessage(baseline)
	if result != "" {
		c.Result = json.RawMessage(result)
	}
	c.NextAttemptAt, c.SentAt, c.AckedAt, c.FinishedAt = fromMillis(next), fromMillis(sent), fromMillis(acked), fromMillis(finished)
	c.ExpiresAt, c.CreatedAt, c.UpdatedAt = time.UnixMilli(expires).UTC(), time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
	return c, nil
}
