// Package synthetic is a collector that makes up its data: items at a configured
// rate, with faults that can be switched on (errors, lag, missing items, slow runs).
// The demo fleet, the tests and the benchmarks use it.
package synthetic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corral-dev/corral/exporter"
)

// Config of the synthetic collector.
type Config struct {
	// Rate is the items per second the simulated source produces (default 1).
	Rate float64 `yaml:"rate" json:"rate"`
	// Lag delays the event time of the newest item behind now, so freshness degrades.
	Lag time.Duration `yaml:"lag" json:"lag"`
	// MissingRatio is the fraction of items lost, so completeness drops (0..1).
	MissingRatio float64 `yaml:"missing_ratio" json:"missing_ratio"`
	// ErrorRatio is the fraction of collections that fail (0..1); 1 always fails.
	ErrorRatio float64 `yaml:"error_ratio" json:"error_ratio"`
	// Slow is extra time every collection takes.
	Slow time.Duration `yaml:"slow" json:"slow"`
	// Series is the number of data series the collector exposes (synthetic_value),
	// to give /metrics a realistic size (default 10).
	Series int `yaml:"series" json:"series"`
	// BackfillStep is the simulated time one backfill step covers (default 1h); each
	// step takes BackfillDelay (default 50ms) so progress can be watched.
	BackfillStep  time.Duration `yaml:"backfill_step" json:"backfill_step"`
	BackfillDelay time.Duration `yaml:"backfill_delay" json:"backfill_delay"`
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.Rate == 0 {
		c.Rate = 1
	}
	if c.Series == 0 {
		c.Series = 10
	}
	if c.BackfillStep == 0 {
		c.BackfillStep = time.Hour
	}
	if c.BackfillDelay == 0 {
		c.BackfillDelay = 50 * time.Millisecond
	}
}

// Validate checks the config; errors name the field.
func (c *Config) Validate() error {
	switch {
	case c.Rate < 0:
		return errors.New("rate: must not be negative")
	case c.Lag < 0:
		return errors.New("lag: must not be negative")
	case c.MissingRatio < 0 || c.MissingRatio > 1:
		return errors.New("missing_ratio: must be between 0 and 1")
	case c.ErrorRatio < 0 || c.ErrorRatio > 1:
		return errors.New("error_ratio: must be between 0 and 1")
	case c.Slow < 0:
		return errors.New("slow: must not be negative")
	case c.Series < 0 || c.Series > 100000:
		return errors.New("series: must be between 0 and 100000")
	case c.BackfillStep < 0 || c.BackfillDelay < 0:
		return errors.New("backfill_step, backfill_delay: must not be negative")
	}
	return nil
}

// Collector is the synthetic collector.
type Collector struct {
	mu      sync.Mutex
	cfg     Config
	last    time.Time // end of the period the last collection covered
	carry   float64   // fractional items owed to the next collection
	rng     *rand.Rand
	value   *prometheus.GaugeVec
	items   int
	started time.Time
}

// New returns a synthetic collector; cfg must have been validated.
func New(cfg Config, seed uint64) *Collector {
	cfg.Defaults()
	c := &Collector{
		cfg:     cfg,
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		started: time.Now(),
		value: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "synthetic_value",
			Help: "A made-up data series of the synthetic collector.",
		}, []string{"series"}),
	}
	c.last = c.started
	c.resize(0, cfg.Series)
	return c
}

func (c *Collector) resize(from, to int) {
	for i := to; i < from; i++ {
		c.value.DeleteLabelValues(strconv.Itoa(i))
	}
	for i := from; i < to; i++ {
		c.value.WithLabelValues(strconv.Itoa(i)).Set(float64(i))
	}
}

// Metrics implements exporter.MetricsProvider.
func (c *Collector) Metrics() []prometheus.Collector { return []prometheus.Collector{c.value} }

// Collect implements exporter.Collector: the items the source produced since the
// last collection, less the missing ones; the newest is now minus the lag.
func (c *Collector) Collect(ctx context.Context) (exporter.Result, error) {
	c.mu.Lock()
	cfg := c.cfg
	fail := cfg.ErrorRatio > 0 && c.rng.Float64() < cfg.ErrorRatio
	c.mu.Unlock()
	if cfg.Slow > 0 {
		t := time.NewTimer(cfg.Slow)
		select {
		case <-ctx.Done():
			t.Stop()
			return exporter.Result{}, fmt.Errorf("synthetic source: %w", ctx.Err())
		case <-t.C:
		}
	}
	if fail {
		return exporter.Result{}, errors.New("synthetic source: injected failure (error_ratio)")
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	produced := cfg.Rate*now.Sub(c.last).Seconds()*(1-cfg.MissingRatio) + c.carry
	n := int(produced)
	c.carry = produced - float64(n)
	c.last = now
	c.items += n
	for i := 0; i < min(cfg.Series, 8); i++ {
		c.value.WithLabelValues(strconv.Itoa(i)).Set(c.rng.Float64() * 100)
	}
	res := exporter.Result{Items: n}
	if n > 0 {
		res.Newest = now.Add(-cfg.Lag)
	}
	return res, nil
}

// TestConnection implements exporter.ConnectionTester.
func (c *Collector) TestConnection(ctx context.Context) (map[string]any, error) {
	c.mu.Lock()
	cfg := c.cfg
	c.mu.Unlock()
	if cfg.ErrorRatio >= 1 {
		return nil, errors.New("synthetic source refuses connections (error_ratio is 1)")
	}
	return map[string]any{"source": "synthetic", "rate": cfg.Rate}, nil
}

// Backfill implements exporter.Backfiller: it walks the range in steps, "collecting"
// rate × step items each.
func (c *Collector) Backfill(ctx context.Context, from, to time.Time, progress func(float64, int)) error {
	c.mu.Lock()
	cfg := c.cfg
	c.mu.Unlock()
	total := to.Sub(from)
	items := 0
	for t := from; t.Before(to); t = t.Add(cfg.BackfillStep) {
		step := min(cfg.BackfillStep, to.Sub(t))
		timer := time.NewTimer(cfg.BackfillDelay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
		items += int(cfg.Rate * step.Seconds() * (1 - cfg.MissingRatio))
		progress(float64(t.Add(step).Sub(from))/float64(total), items)
	}
	return nil
}

// ApplyConfig implements exporter.Configurable: keys of Config, JSON-encoded, with
// durations as strings ("30s").
func (c *Collector) ApplyConfig(_ context.Context, raw json.RawMessage) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := c.cfg
	var patch map[string]json.RawMessage
	if err := json.Unmarshal(raw, &patch); err != nil {
		return fmt.Errorf("synthetic config: %w", err)
	}
	for k, v := range patch {
		var err error
		switch k {
		case "rate":
			err = json.Unmarshal(v, &next.Rate)
		case "missing_ratio":
			err = json.Unmarshal(v, &next.MissingRatio)
		case "error_ratio":
			err = json.Unmarshal(v, &next.ErrorRatio)
		case "series":
			err = json.Unmarshal(v, &next.Series)
		case "lag":
			next.Lag, err = duration(v)
		case "slow":
			next.Slow, err = duration(v)
		case "backfill_step":
			next.BackfillStep, err = duration(v)
		case "backfill_delay":
			next.BackfillDelay, err = duration(v)
		default:
			return fmt.Errorf("synthetic: unknown config key %q", k)
		}
		if err != nil {
			return fmt.Errorf("synthetic: %s: %v", k, err)
		}
	}
	if err := next.Validate(); err != nil {
		return fmt.Errorf("synthetic: %w", err)
	}
	c.resize(c.cfg.Series, next.Series)
	c.cfg = next
	return nil
}

// CurrentConfig implements exporter.ConfigReporter.
func (c *Collector) CurrentConfig() []exporter.ConfigKey {
	c.mu.Lock()
	cfg := c.cfg
	c.mu.Unlock()
	return []exporter.ConfigKey{
		{Key: "rate", Value: cfg.Rate, Doc: "items per second the simulated source produces"},
		{Key: "lag", Value: cfg.Lag.String(), Doc: "how far the newest item's time lags behind now"},
		{Key: "missing_ratio", Value: cfg.MissingRatio, Doc: "share of items lost, 0–1"},
		{Key: "error_ratio", Value: cfg.ErrorRatio, Doc: "share of collections that fail, 0–1"},
		{Key: "slow", Value: cfg.Slow.String(), Doc: "extra time every collection takes"},
		{Key: "series", Value: cfg.Series, Doc: "number of synthetic_value series"},
		{Key: "backfill_step", Value: cfg.BackfillStep.String(), Doc: "simulated time one backfill step covers"},
		{Key: "backfill_delay", Value: cfg.BackfillDelay.String(), Doc: "wall time one backfill step takes"},
	}
}

func duration(v json.RawMessage) (time.Duration, error) {
	var s string
	dec := json.NewDecoder(bytes.NewReader(v))
	if err := dec.Decode(&s); err != nil {
		return 0, errors.New(`must be a duration string such as "30s"`)
	}
	return time.ParseDuration(s)
}
