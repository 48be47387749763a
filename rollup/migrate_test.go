package rollup

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chtest"
)

func TestMigrate_Fresh(t *testing.T) {
	db := chtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Migrate(ctx, db.Conn, db.Name, 0)
	require.NoError(t, err)
	require.Equal(t, LatestVersion(), res.To)
}
