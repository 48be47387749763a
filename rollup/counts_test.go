package rollup

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chtest"
)

func TestCounts(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	ctx := context.Background()
	_, err := Migrate(ctx, db.Conn, db.Name, 0)
	require.NoError(t, err)
	at := time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC)
	// SERVER 3, CLIENT 4 (not a request), CONSUMER 5; one more SERVER row an hour later.
	for i, r := range []struct{ kind, n, minute int }{{2, 3, 0}, {3, 4, 1}, {5, 5, 2}, {2, 100, 60}} {
		db.Exec(t, fmt.Sprintf("INSERT INTO %s (Timestamp, ServiceName, SpanName, SpanKind, Requests) SELECT toDateTime(%d), 's', 'op%d', %d, %d",
			db.Table(TableRED1m), at.Unix()+int64(60*r.minute), i, r.kind, r.n))
	}
	db.Exec(t, fmt.Sprintf("INSERT INTO %s (Timestamp, ServiceName, SpanName, TraceId, SpanId) SELECT toDateTime(%d + number), 's', 'x', '0123456789abcdef', '01234567' FROM system.numbers LIMIT 7",
		db.Table(TableSpans), at.Unix()))

	n, err := CountRequests(ctx, db.Conn, db.Name, at, at.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, uint64(8), n, "SERVER and CONSUMER rows in the hour")
	n, err = CountSpans(ctx, db.Conn, db.Name, at, at.Add(5*time.Second))
	require.NoError(t, err)
	assert.Equal(t, uint64(5), n, "[from, to)")
	_, err = CountSpans(ctx, db.Conn, "bad-name", at, at)
	assert.Error(t, err)
}
