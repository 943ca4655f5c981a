package api

import (
	"net/http"

	"github.com/corral-dev/corral/alerting"
	"github.com/corral-dev/corral/api/auth"
	"github.com/corral-dev/corral/api/wire"
)

// AlertLister lists the built-in alerter's alerts; *alerting.Alerter is one.
type AlertLister interface {
	Alerts() []alerting.Alert
}

var _ AlertLister = (*alerting.Alerter)(nil)

// alerts serves GET /api/v1/alerts: the pending, firing and recently
// resolved alerts of the collectors in the caller's scope (the file_sd
// alerts to super admins only, as /sd-files), optionally of one state.
func (a *api) alerts(w http.ResponseWriter, r *http.Request) {
	state := r.URL.Query().Get("state")
	switch state {
	case "", wire.AlertPending, wire.AlertFiring, wire.AlertResolved:
	default:
		badParam(w, "state", "want pending, firing or resolved")
		return
	}
	p, _ := auth.FromContext(r.Context())
	out := wire.List[wire.Alert]{Data: []wire.Alert{}}
	if a.o.Alerts != nil {
		for _, al := range a.o.Alerts.Alerts() {
			if state != "" && al.State != state {
				continue
			}
			if al.Collector == "" {
				if !p.IsSuperAdmin() {
					continue
				}
			} else if !p.CanRead(al.Org, al.Team) {
				continue
			}
			out.Data = append(out.Data, al.Wire())
		}
	}
	writeJSON(w, http.StatusOK, out)
}
