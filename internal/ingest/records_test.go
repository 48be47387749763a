package ingest

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/weirhq/weir/internal/tailsample"
)

func TestEpoch_RoundTrip(t *testing.T) {
	ep := Epoch{Number: 7, Processed: 1 << 40, RED: 300, Oldest: 200, BlocksEnd: 9000, MetricsState: 250, MetricsSnap: 240,
		Held:      []pcommon.TraceID{{1}, {2}},
		Decisions: make([]byte, 2*tailsample.DecisionRecordSize),
		Time:      time.Unix(1_790_000_000, 5).UnixNano()}
	got, err := decodeEpoch(appendEpoch(nil, &ep))
	require.NoError(t, err)
	assert.Equal(t, ep, got)

	for n := range len(appendEpoch(nil, &ep)) {
		_, err := decodeEpoch(appendEpoch(nil, &ep)[:n])
		assert.Error(t, err, "cut at %d", n)
	}
}

// An EPOCH record of version 1 (weir before lingering traces were checkpointed) still reads.
func TestEpoch_Version1(t *testing.T) {
	var b []byte
	b = append(b, 1)
	for _, v := range []uint64{3, 100, 90, 80, 70, 60, 50, 1} {
		b = binary.AppendUvarint(b, v)
	}
	b = append(b, pcommon.TraceID{9}.String()[:16]...)
	b = binary.AppendUvarint(b, 0)
	got, err := decodeEpoch(b)
	require.NoError(t, err)
	assert.Equal(t, uint64(3), got.Number)
	assert.Len(t, got.Held, 1)
	assert.Zero(t, got.Time)
	assert.Empty(t, got.Decisions)
}
