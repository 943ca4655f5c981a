package server

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/corral-dev/corral/alerting"
	"github.com/corral-dev/corral/control"
	"github.com/corral-dev/corral/store"
)

// control builds the control plane: the command dispatcher (with the server's
// signing key, made on first start), the collectors' lifecycle and bulk
// operations.
func (s *server) control(ctx context.Context) (*control.Plane, error) {
	ctl := s.cfg.Control
	return control.New(ctx, control.Options{
		Store: s.store, Fleet: s.eval, Events: alerting.Tee{Publisher: s.hub, Alerter: s.alerter}, Tenancy: s.tenancy,
		RegistryJobs: s.registryJobs, Changed: s.registryChanged,
		Principal: func(ctx context.Context, userID string) (control.Scope, error) {
			return s.auth.PrincipalOf(ctx, userID)
		},
		CommandExpiry: time.Duration(ctl.CommandExpiry), RetryMaxBackoff: time.Duration(ctl.RetryMaxBackoff),
		ArchiveRetention: time.Duration(ctl.ArchiveRetentionDays) * 24 * time.Hour,
		TargetsReady:     s.ready,
		Logger:           s.log, Registerer: s.reg,
	})
}

// desired is a collector's desired state, for the alerter (a collector meant
// to be paused never alerts).
func (s *server) desired(id string) (store.DesiredState, bool) {
	if s.plane == nil {
		return store.DesiredState{}, false
	}
	return s.plane.Dispatcher.Desired(id)
}

// ShowKeys prints the server's public control key (making it on first use),
// and the next one during a rotation; it returns the exit code.
func ShowKeys(configFile, storageURL string, stdout, stderr io.Writer) int {
	cfg, err := loadConfig(configFile)
	if err != nil {
		fmt.Fprintln(stderr, "corral:", err)
		return 2
	}
	if storageURL != "" {
		cfg.Storage.URL = storageURL
	}
	ctx := context.Background()
	st, err := store.Open(ctx, storeURL(cfg.Storage.URL), nil)
	if err != nil {
		fmt.Fprintln(stderr, "corral:", err)
		return 1
	}
	defer st.Close()
	active, err := control.EnsureKey(ctx, st)
	if err != nil {
		fmt.Fprintln(stderr, "corral:", err)
		return 1
	}
	_, next, err := control.ServerKeys(ctx, st)
	if err != nil {
		fmt.Fprintln(stderr, "corral:", err)
		return 1
	}
	fmt.Fprintln(stdout, active.PublicKey)
	fmt.Fprintf(stderr, "key id %s, active since %s; put the line above in the agents' control.trusted_keys\n",
		active.KID, active.ActivatedAt.Format(time.RFC3339))
	if next.KID != "" {
		fmt.Fprintf(stderr, "a rotation is under way to key %s: %s\n", next.KID, next.PublicKey)
	}
	return 0
}
