package server

import (
	"context"
	"fmt"
	"time"

	"github.com/corral-dev/corral/api"
	"github.com/corral-dev/corral/api/events"
	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/configs"
	"github.com/corral-dev/corral/logpull"
	"github.com/corral-dev/corral/store"
)

// logPurgeEvery is how often the retention purge of agent logs runs.
const logPurgeEvery = time.Hour

// logPuller is the puller of the agents' logs into the store, going on from
// the cursors the store remembers; nil with logs.pull off.
func (s *server) logPuller(ctx context.Context) (*logpull.Puller, error) {
	cfg := s.cfg.Logs
	if !cfg.Enabled() {
		return nil, nil
	}
	cs, err := s.store.LogCursors(ctx)
	if err != nil {
		return nil, fmt.Errorf("restore log cursors: %w", err)
	}
	cursors := make(map[string]logpull.Position, len(cs))
	for _, c := range cs {
		cursors[c.Collector] = logpull.Position{Stream: c.Stream, Cursor: c.Cursor}
	}
	return logpull.New(ctx, logpull.Options{Store: logSink{store: s.store, hub: s.hub},
		Interval: time.Duration(cfg.PullInterval), Cursors: cursors, Registerer: s.reg}), nil
}

// logAppender stores pulled log records; *store.Store is one.
type logAppender interface {
	AppendLogs(ctx context.Context, c store.LogCursor, rs []store.LogRecord) (int64, error)
}

// logSink stores the pulled records and publishes each as a collector:log
// event (logpull.Store).
type logSink struct {
	store logAppender
	hub   *events.Hub
}

// StoreLogs implements logpull.Store.
func (k logSink) StoreLogs(ctx context.Context, b logpull.Batch) error {
	id := b.Target.Collector
	now := time.Now().UTC()
	rs := make([]store.LogRecord, len(b.Records))
	for i, r := range b.Records {
		rs[i] = store.LogRecord{Collector: id, Stream: b.Stream, Cursor: r.Cursor, Time: r.Time, Level: r.Level,
			LevelNum: r.LevelNum, Message: r.Message, Attrs: r.Attrs, ReceivedAt: now}
	}
	if _, err := k.store.AppendLogs(ctx, store.LogCursor{Collector: id, Stream: b.Stream, Cursor: b.Cursor}, rs); err != nil {
		return err
	}
	e := events.Event{Type: wire.EventLog, Collector: id, Org: b.Target.Org, Team: b.Target.Team,
		Job: b.Target.Job, Labels: b.Target.Labels}
	for i := range rs {
		e.Time, e.Data = rs[i].Time, api.LogView(&rs[i])
		k.hub.Publish(e)
	}
	return nil
}

// purgeLogs applies the logs retention at start and every hour until ctx ends.
func (s *server) purgeLogs(ctx context.Context, cfg configs.LogsConfig) {
	t := time.NewTicker(logPurgeEvery)
	defer t.Stop()
	for {
		start := time.Now()
		p, err := s.store.PurgeLogs(ctx, start.Add(-cfg.Retention()), cfg.MaxRowsPerCollector)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("agent log retention purge failed; retried in an hour", "err", err)
		case p.Expired > 0 || p.Excess > 0:
			s.log.Info("agent logs purged", "expired", p.Expired, "over_row_limit", p.Excess,
				"retention_days", cfg.RetentionDays, "max_rows_per_collector", cfg.MaxRowsPerCollector,
				"duration_seconds", time.Since(start).Seconds())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
