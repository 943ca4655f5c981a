package main

import (
	"context"
	"fmt"
	"time"

	"github.com/corral-dev/corral/api"
	"github.com/corral-dev/corral/api/events"
	"github.com/corral-dev/corral/configs"
	"github.com/corral-dev/corral/scrape"
	"github.com/corral-dev/corral/store"
)

// logPurgeEvery is how often the retention purge of agent logs runs.
const logPurgeEvery = time.Hour

// pullLogs sets the scrape options that pull the agents' logs into the store,
// going on from the cursors the store remembers; with logs.pull off it sets none.
func (s *server) pullLogs(ctx context.Context, o *scrape.Options) error {
	cfg := s.cfg.Logs
	if !cfg.Enabled() {
		return nil
	}
	cs, err := s.store.LogCursors(ctx)
	if err != nil {
		return fmt.Errorf("restore log cursors: %w", err)
	}
	o.LogCursors = make(map[string]scrape.LogCursor, len(cs))
	for _, c := range cs {
		o.LogCursors[c.Collector] = scrape.LogCursor{Stream: c.Stream, Cursor: c.Cursor}
	}
	o.LogSink = logSink{store: s.store, hub: s.hub, tenancy: s.cfg.Tenancy}
	o.LogPullInterval = time.Duration(cfg.PullInterval)
	return nil
}

// logSink stores the pulled records and publishes each as a collector:log event.
type logSink struct {
	store   store.LogWriter
	hub     *events.Hub
	tenancy configs.TenancyConfig // fixed at start, as the recorder's
}

// StoreLogs implements scrape.LogSink.
func (k logSink) StoreLogs(ctx context.Context, b scrape.LogBatch) error {
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
	labels := b.Target.Labels
	e := events.Event{Type: events.TypeLog, Collector: id, Org: labels[k.tenancy.OrgLabel], Team: labels[k.tenancy.TeamLabel],
		Job: b.Target.Job, Labels: labels}
	if e.Org == "" {
		e.Org = k.tenancy.DefaultOrg
	}
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
