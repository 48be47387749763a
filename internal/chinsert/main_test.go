package chinsert

import (
	"testing"

	"go.uber.org/goleak"
)

// driverCloser is the native driver's (chtest's) pool goroutine, which lingers for a moment
// after Close.
var driverCloser = goleak.IgnoreTopFunction("github.com/ClickHouse/clickhouse-go/v2.(*clickhouse).startAutoCloseIdleConnections")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, driverCloser)
}
