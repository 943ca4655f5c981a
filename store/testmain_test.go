package store

import (
	"testing"

	"github.com/corral-dev/corral/store/testdb"
)

// TestMain stops the throwaway database servers the tests started.
func TestMain(m *testing.M) { testdb.Main(m) }
