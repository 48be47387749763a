package rollupextension

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The driver's pool keeps a connection-closing goroutine for a moment after Close.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/ClickHouse/clickhouse-go/v2.(*clickhouse).startAutoCloseIdleConnections"))
}
