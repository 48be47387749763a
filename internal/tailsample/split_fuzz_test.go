package tailsample

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/weirhq/weir/internal/otlpwire"
)

// FuzzSplit checks the sampler's protobuf byte walker (groups.split and the per-trace
// messages it cuts out of a request) against pdata. Any request the receiver lets through
// (otlpwire.CheckTraces accepts it) must split without error; when pdata decodes it too,
// into the same traces, with the same summaries, as splitting pdata's decoding of it; and
// pdata must decode each
// trace's message into the spans pdata's split gives that trace. Requests the receiver
// refuses must not make split panic.
func FuzzSplit(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 5))
	for range 6 {
		b, err := marshaler.MarshalTraces(randomBatch(rng))
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x02, 0x12, 0x00})
	m := newAttrMatchers([]AttributePolicy{
		{Name: "status", Key: "http.status_code", Min: ptr(500.0)},
		{Name: "svc", Key: "service.name", Resource: true, Values: []string{"svc-1"}},
	})
	f.Fuzz(func(t *testing.T, req []byte) {
		g := getGroups()
		defer putGroups(g)
		var rd otlpwire.Traces
		if _, err := otlpwire.CheckTraces(&rd, req); err != nil {
			_, _ = g.split(req, m) // refused at the door; it must not panic all the same
			return
		}
		_, err := g.split(req, m)
		require.NoError(t, err, "the receiver accepts it: split must take it")
		td, err := unmarshaler.UnmarshalTraces(req)
		if err != nil {
			// pdata refuses a whole request for one span ID of the wrong length; weir drops
			// such spans alone (a partial success), so nothing to compare with.
			return
		}
		want := refSplit(td, m)
		require.Len(t, g.list, len(want))
		for i := range want {
			gr := &g.list[i]
			require.Equal(t, want[i].id, gr.id)
			require.Equal(t, want[i].sum, gr.sum)
			got, err := unmarshaler.UnmarshalTraces(g.message(gr))
			require.NoError(t, err, "trace %d's message", i)
			requireSameTraces(t, want[i].td, got)
		}
	})
}

// requireSameTraces compares two batches by their canonical encoding: pdata's equality
// would tell apart what the wire cannot (an empty map and a missing one, say).
func requireSameTraces(t *testing.T, want, got ptrace.Traces) {
	t.Helper()
	wb, err := marshaler.MarshalTraces(want)
	require.NoError(t, err)
	gb, err := marshaler.MarshalTraces(got)
	require.NoError(t, err)
	require.Equal(t, wb, gb)
}
