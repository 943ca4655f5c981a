package health

import (
	"strings"
	"testing"
	"time"
)

func TestThresholdLabels(t *testing.T) {
	th, err := Thresholds{IncompleteBelow: 0.9, SlowScrape: time.Second}.FromLabels(map[string]string{
		"__corral_stale_after__": "10m", "__corral_incomplete_below__": "0.5", "__corral_offline_after__": "soon",
		"__corral_slow_collection__": "2s",
	})
	if th.StaleAfter != 10*time.Minute || th.IncompleteBelow != 0.5 || th.SlowCollection != 2*time.Second || th.SlowScrape != time.Second ||
		th.OfflineAfter != 0 || err == nil || !strings.Contains(err.Error(), "__corral_offline_after__") {
		t.Errorf("%+v %v", th, err)
	}
	if _, err := (Thresholds{}).FromLabels(map[string]string{"__corral_incomplete_below__": "1.5"}); err == nil {
		t.Error("a ratio over 1 accepted")
	}
}
