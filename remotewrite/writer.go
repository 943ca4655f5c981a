package remotewrite

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/corral-dev/corral/configs"
	"github.com/corral-dev/corral/scrape"
	"github.com/corral-dev/corral/scrape/expo"
	"github.com/corral-dev/corral/targets"
)

// Writer is every remote_write queue of a config. It is the scraper's
// scrape.Appender: each scrape's samples, labelled as /federate labels
// them, with up and scrape_duration_seconds as Prometheus stores them.
type Writer struct {
	queues []*Queue

	mu     sync.Mutex // one conversion at a time: the builder and parser are shared
	lb     *labels.Builder
	parser expo.Parser
}

// New starts a queue per entry of cfgs; ctx ends them (or Stop).
func New(ctx context.Context, cfgs []*configs.RemoteWriteConfig, external map[string]string, log *slog.Logger, m *Metrics) (*Writer, error) {
	w := &Writer{lb: labels.NewBuilder(labels.EmptyLabels())}
	for _, c := range cfgs {
		q, err := NewQueue(ctx, *c, external, log, m)
		if err != nil {
			w.Stop()
			return nil, err
		}
		w.queues = append(w.queues, q)
	}
	return w, nil
}

// Stop stops every queue.
func (w *Writer) Stop() {
	for _, q := range w.queues {
		q.Stop()
	}
}

func (w *Writer) append(ls labels.Labels, v float64, ts int64) {
	for _, q := range w.queues {
		q.Append(ls, v, ts)
	}
}

// Append implements scrape.Appender.
func (w *Writer) Append(r *scrape.Result, samples []expo.Sample, final bool) {
	if w == nil || len(w.queues) == 0 {
		return
	}
	t := r.Target
	at := r.Start.UnixMilli()
	w.mu.Lock()
	defer w.mu.Unlock()
	up := 0.0
	if r.Err == nil {
		up = 1
	}
	w.targetSeries(t, "up", up, at)
	w.targetSeries(t, "scrape_duration_seconds", r.Duration.Seconds(), at)
	for i := range samples {
		s := &samples[i]
		ts := at
		if s.HasTimestamp && t.HonorTimestamps {
			ts = s.Timestamp
		}
		w.lb.Reset(labels.EmptyLabels())
		w.lb.Set(model.MetricNameLabel, string(s.Name))
		expo.EachLabel(s.Labels, func(n, raw []byte) bool {
			w.lb.Set(string(n), string(expo.Unescape(nil, raw)))
			return true
		})
		if !final {
			mergeTarget(w.lb, t)
		}
		w.append(w.lb.Labels(), s.Value, ts)
	}
}

func (w *Writer) targetSeries(t *targets.Target, name string, v float64, ts int64) {
	w.lb.Reset(labels.EmptyLabels())
	for k, val := range t.Labels {
		w.lb.Set(k, val)
	}
	w.lb.Set(model.MetricNameLabel, name)
	w.append(w.lb.Labels(), v, ts)
}

// mergeTarget adds the target's labels to a sample's as /federate does
// (and Prometheus's scrape): with honor_labels the sample's win, else the
// target's, the sample's kept as exported_<name>.
func mergeTarget(lb *labels.Builder, t *targets.Target) {
	type clash struct{ name, value string }
	var clashes []clash
	for k, v := range t.Labels {
		old := lb.Get(k)
		if t.HonorLabels {
			if old == "" {
				lb.Set(k, v)
			}
			continue
		}
		if old != "" {
			clashes = append(clashes, clash{k, old})
		}
		lb.Set(k, v)
	}
	for _, c := range clashes {
		name := c.name
		for {
			name = model.ExportedLabelPrefix + name
			if lb.Get(name) == "" {
				lb.Set(name, c.value)
				break
			}
		}
	}
}

// AppendExposition queues every sample of body, in the text format with the
// labels it carries (the fleet series of the server's /metrics), at at
// unless a sample has its own timestamp.
func (w *Writer) AppendExposition(body []byte, at time.Time) error {
	if w == nil || len(w.queues) == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.parser.Parse(body, false, 0); err != nil {
		return err
	}
	for _, s := range w.parser.Samples() {
		ts := at.UnixMilli()
		if s.HasTimestamp {
			ts = s.Timestamp
		}
		w.lb.Reset(labels.EmptyLabels())
		w.lb.Set(model.MetricNameLabel, string(s.Name))
		expo.EachLabel(s.Labels, func(n, raw []byte) bool {
			w.lb.Set(string(n), string(expo.Unescape(nil, raw)))
			return true
		})
		w.append(w.lb.Labels(), s.Value, ts)
	}
	return nil
}
