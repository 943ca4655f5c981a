package auth

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/corral-dev/corral/store/testdb"
)

// TestMain stops the throwaway PostgreSQL server the tests started.
func TestMain(m *testing.M) { testdb.Main(m) }

// checkLeaks fails t if goroutines started during t outlive it and its cleanups
// (which run before this check since it is registered first). The goroutines
// that copy the output of the throwaway PostgreSQL server, which a parallel test
// may start and which lives until TestMain ends, are not leaks.
func checkLeaks(t *testing.T) {
	t.Helper()
	opts := []goleak.Option{goleak.IgnoreCurrent(), goleak.IgnoreAnyFunction("os/exec.(*Cmd).Start.func2")}
	t.Cleanup(func() { goleak.VerifyNone(t, opts...) })
}
