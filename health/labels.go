package health

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
)

// ThresholdLabels are the target labels (in file_sd, static_configs or a
// registration's thresholds) that override a collector's thresholds, by
// threshold key, in Prometheus's "__" style.
var ThresholdLabels = map[string]string{
	"offline_after":    "__corral_offline_after__",
	"stale_after":      "__corral_stale_after__",
	"slow_scrape":      "__corral_slow_scrape__",
	"slow_collection":  "__corral_slow_collection__",
	"incomplete_below": "__corral_incomplete_below__",
}

// FromLabels returns t with the thresholds a target's "__corral_*__" labels
// set. A bad value is reported and leaves its threshold as it was.
func (t Thresholds) FromLabels(meta map[string]string) (Thresholds, error) {
	var errs []error
	for key, label := range ThresholdLabels {
		v, ok := meta[label]
		if !ok {
			continue
		}
		if key == "incomplete_below" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				errs = append(errs, fmt.Errorf("label %s: %q is not a ratio between 0 and 1", label, v))
				continue
			}
			t.IncompleteBelow = f
			continue
		}
		d, err := model.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("label %s: %w", label, err))
			continue
		}
		switch key {
		case "offline_after":
			t.OfflineAfter = time.Duration(d)
		case "stale_after":
			t.StaleAfter = time.Duration(d)
		case "slow_scrape":
			t.SlowScrape = time.Duration(d)
		case "slow_collection":
			t.SlowCollection = time.Duration(d)
		}
	}
	return t, errors.Join(errs...)
}
