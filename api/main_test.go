package api

import (
	"testing"

	"github.com/corral-dev/corral/store/testdb"
)

// TestMain stops the throwaway PostgreSQL server the people tests started.
func TestMain(m *testing.M) { testdb.Main(m) }
