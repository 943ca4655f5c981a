package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// LogRecord is one log record of an agent, pulled from its /logs. The record
// (Collector, Stream, Cursor) is stored once, however often it is appended.
type LogRecord struct {
	ID        int64  // assigned by the store; ignored by AppendLogs
	Collector string // collector ID; AppendLogs sets it from the cursor
	// Stream is the agent's log stream: it changes when the agent process restarts.
	Stream string
	// Cursor is the record's position in its stream (at most math.MaxInt64).
	Cursor uint64
	Time   time.Time // when the agent logged it; UTC to the millisecond on reading
	Level  string    // as the agent wrote it: DEBUG, INFO, WARN, ERROR, INFO+2 …
	// LevelNum is the level as a number, slog's scale (DEBUG -4, INFO 0, WARN 4,
	// ERROR 8): the minimum-level filter compares it.
	LevelNum int
	Message  string
	// Attrs is a JSON object; nil or empty is stored and read back as {}.
	Attrs json.RawMessage
	// ReceivedAt is when corral pulled it; AppendLogs uses the current time when
	// it is zero. Retention by age counts from it.
	ReceivedAt time.Time
}

// LogCursor is where the pull of a collector's logs goes on from: the last
// record stored of its stream.
type LogCursor struct {
	Collector string
	Stream    string
	Cursor    uint64
}

// LogQuery selects log records of one collector. Zero fields select everything.
type LogQuery struct {
	Collector string
	// MinLevel, when set, keeps the records whose LevelNum is at least *MinLevel.
	MinLevel *int
	// Text keeps the records whose message or attributes (keys and values)
	// contain it, case-insensitively.
	Text string
	// Since and Until bound Time, both inclusive; a zero time is an open end.
	Since, Until time.Time
	// Limit is the most records returned (<= 0: all); Offset skips that many first.
	Limit, Offset int
	// OldestFirst orders by Time ascending; the default is newest first. Ties go
	// in the order the records were appended (reversed for newest first).
	OldestFirst bool
}

// LogPurge counts the records a retention purge deleted.
type LogPurge struct {
	Expired int64 // received before the age limit
	Excess  int64 // beyond the newest rows kept per collector
}

const logCols = 10

const logColumns = `collector, stream, cursor, at, level, level_num, message, attrs, search, received_at`

func insertLogsSQL(rows int, dialect string) string {
	return `INSERT INTO collector_logs (` + logColumns + `) VALUES ` + valuesList(rows, logCols, dialect) + `
ON CONFLICT (collector, stream, cursor) DO NOTHING`
}

// AppendLogs stores rs as records of c.Collector (their Collector field is
// ignored), skipping those whose (stream, cursor) is already stored, and sets
// the collector's cursor to c, all in one transaction: either both happen or
// neither. It returns how many records were new.
func (s *Store) AppendLogs(ctx context.Context, c LogCursor, rs []LogRecord) (int64, error) {
	if c.Collector == "" {
		return 0, errors.New("append logs: empty collector")
	}
	if c.Cursor > math.MaxInt64 {
		return 0, fmt.Errorf("append logs of %q: cursor %d is over the largest storable, %d", c.Collector, c.Cursor, int64(math.MaxInt64))
	}
	now := time.Now().UnixMilli()
	collector := text(c.Collector)
	var added int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		n, err := s.execBatchedN(ctx, tx, len(rs), logCols, s.bulk.logs, insertLogsSQL, func(i int, a []any) error {
			r := &rs[i]
			if r.Cursor > math.MaxInt64 {
				return fmt.Errorf("record cursor %d is over the largest storable, %d", r.Cursor, int64(math.MaxInt64))
			}
			attrs, search, err := encodeAttrs(r.Message, r.Attrs)
			if err != nil {
				return fmt.Errorf("record %s/%d: %w", r.Stream, r.Cursor, err)
			}
			received := now
			if !r.ReceivedAt.IsZero() {
				received = r.ReceivedAt.UnixMilli()
			}
			a[0], a[1], a[2], a[3], a[4] = collector, text(r.Stream), int64(r.Cursor), r.Time.UnixMilli(), text(r.Level)
			a[5], a[6], a[7], a[8], a[9] = r.LevelNum, text(r.Message), attrs, search, received
			return nil
		})
		if err != nil {
			return err
		}
		added = n
		_, err = tx.ExecContext(ctx, `INSERT INTO log_cursors (collector, stream, cursor, updated_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (collector) DO UPDATE SET stream = excluded.stream, cursor = excluded.cursor, updated_at = excluded.updated_at`,
			collector, text(c.Stream), int64(c.Cursor), now)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("append %d log records of %q: %w", len(rs), c.Collector, err)
	}
	return added, nil
}

// encodeAttrs returns the attributes as stored (a JSON object, "{}" for none)
// and the search text of a record: its message and its attributes as key=value
// lines, lower-cased, so that one LIKE serves both dialects, Unicode included.
func encodeAttrs(msg string, raw json.RawMessage) (attrs, search string, err error) {
	var b strings.Builder
	b.WriteString(strings.ToLower(msg))
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "{}", text(b.String()), nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", "", fmt.Errorf("attrs are not a JSON object: %w", err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := m[k]
		var str string
		if json.Unmarshal(v, &str) != nil {
			str = string(v) // numbers, booleans, objects: as JSON
		}
		b.WriteByte('\n')
		b.WriteString(strings.ToLower(k))
		b.WriteByte('=')
		b.WriteString(strings.ToLower(str))
	}
	return text(string(raw)), text(b.String()), nil
}

// LogCursors returns the cursor of every collector, ordered by collector.
func (s *Store) LogCursors(ctx context.Context) ([]LogCursor, error) {
	return queryAll(ctx, s, "read log cursors", `SELECT collector, stream, cursor FROM log_cursors ORDER BY collector`, nil,
		func(sc scanner) (LogCursor, error) {
			var (
				c   LogCursor
				cur int64
			)
			err := sc.Scan(&c.Collector, &c.Stream, &cur)
			c.Cursor = uint64(cur)
			return c, err
		})
}

// where builds the WHERE clause of q and its arguments.
func (q *LogQuery) where() (string, []any) {
	var b strings.Builder
	args := []any{text(q.Collector), bound(q.Since, false), bound(q.Until, true)}
	b.WriteString(` WHERE collector = $1 AND at >= $2 AND at <= $3`)
	if q.MinLevel != nil {
		args = append(args, *q.MinLevel)
		b.WriteString(` AND level_num >= $` + strconv.Itoa(len(args)))
	}
	if q.Text != "" {
		args = append(args, "%"+likeEscaper.Replace(text(strings.ToLower(q.Text)))+"%")
		b.WriteString(` AND search LIKE $` + strconv.Itoa(len(args)) + ` ESCAPE '\'`)
	}
	return b.String(), args
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// Logs returns the records matching q within its limit and offset, and the
// number of records matching q in all.
func (s *Store) Logs(ctx context.Context, q LogQuery) ([]LogRecord, int64, error) {
	where, args := q.where()
	var total int64
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM collector_logs`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count logs of %q: %w", q.Collector, err)
	}
	out := []LogRecord{}
	if total == 0 || int64(q.Offset) >= total {
		return out, total, nil
	}
	err := s.EachLog(ctx, q, func(r *LogRecord) error {
		out = append(out, *r)
		return nil
	})
	return out, total, err
}

// EachLog calls fn with each record matching q, in q's order and within its
// limit and offset, streaming them from the database. An error of fn stops the
// query and is returned as it is. The record is reused between calls: fn
// copies what it keeps.
func (s *Store) EachLog(ctx context.Context, q LogQuery, fn func(*LogRecord) error) error {
	where, args := q.where()
	order := ` ORDER BY at DESC, id DESC`
	if q.OldestFirst {
		order = ` ORDER BY at, id`
	}
	limit := int64(q.Limit)
	if q.Limit <= 0 {
		limit = math.MaxInt64
	}
	args = append(args, limit, max(0, q.Offset))
	query := `SELECT id, ` + logColumns + ` FROM collector_logs` + where + order +
		` LIMIT $` + strconv.Itoa(len(args)-1) + ` OFFSET $` + strconv.Itoa(len(args))
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("read logs of %q: %w", q.Collector, err)
	}
	defer rows.Close()
	var (
		r                    LogRecord
		cursor, at, received int64
		attrs, search        string
	)
	for rows.Next() {
		if err := rows.Scan(&r.ID, &r.Collector, &r.Stream, &cursor, &at, &r.Level, &r.LevelNum, &r.Message, &attrs, &search, &received); err != nil {
			return fmt.Errorf("read logs of %q: %w", q.Collector, err)
		}
		r.Cursor, r.Time, r.ReceivedAt = uint64(cursor), time.UnixMilli(at).UTC(), time.UnixMilli(received).UTC()
		r.Attrs = json.RawMessage(attrs)
		if err := fn(&r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read logs of %q: %w", q.Collector, err)
	}
	return nil
}

// CountLogs returns how many records of collector are stored.
func (s *Store) CountLogs(ctx context.Context, collector string) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM collector_logs WHERE collector = $1`, text(collector)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count logs of %q: %w", collector, err)
	}
	return n, nil
}

// PurgeLogs applies the retention policy: it deletes the records received
// before before (zero: none by age), then, of each collector with more than
// maxRows records (<= 0: no limit), all but the newest maxRows. Each step is a
// statement of its own, so a purge never holds the database for long.
func (s *Store) PurgeLogs(ctx context.Context, before time.Time, maxRows int) (LogPurge, error) {
	var p LogPurge
	if !before.IsZero() {
		n, err := affected(s.db.ExecContext(ctx, `DELETE FROM collector_logs WHERE received_at < $1`, before.UnixMilli()))
		if err != nil {
			return p, fmt.Errorf("purge logs received before %s: %w", before.UTC().Format(time.RFC3339), err)
		}
		p.Expired = n
	}
	if maxRows <= 0 {
		return p, nil
	}
	over, err := queryAll(ctx, s, "find collectors over the log row limit",
		`SELECT collector FROM collector_logs GROUP BY collector HAVING count(*) > $1 ORDER BY collector`, []any{maxRows},
		func(sc scanner) (string, error) {
			var c string
			return c, sc.Scan(&c)
		})
	if err != nil {
		return p, err
	}
	for _, c := range over {
		// The oldest record to keep; everything older goes.
		var at, id int64
		err := s.db.QueryRowContext(ctx, `SELECT at, id FROM collector_logs WHERE collector = $1
ORDER BY at DESC, id DESC LIMIT 1 OFFSET $2`, c, maxRows-1).Scan(&at, &id)
		if errors.Is(err, sql.ErrNoRows) {
			continue // deleted meanwhile
		}
		if err != nil {
			return p, fmt.Errorf("purge logs of %q beyond %d rows: %w", c, maxRows, err)
		}
		n, err := affected(s.db.ExecContext(ctx, `DELETE FROM collector_logs
WHERE collector = $1 AND (at < $2 OR (at = $2 AND id < $3))`, c, at, id))
		if err != nil {
			return p, fmt.Errorf("purge logs of %q beyond %d rows: %w", c, maxRows, err)
		}
		p.Excess += n
	}
	return p, nil
}

// DeleteLogs deletes every log record and the cursor of collector in one
// transaction, and returns how many records there were.
func (s *Store) DeleteLogs(ctx context.Context, collector string) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if n, err = affected(tx.ExecContext(ctx, `DELETE FROM collector_logs WHERE collector = $1`, text(collector))); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM log_cursors WHERE collector = $1`, text(collector))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete logs of %q: %w", collector, err)
	}
	return n, nil
}
