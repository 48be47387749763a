package weirotlpreceiver

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/weirhq/weir/internal/otlpgen"
	"github.com/weirhq/weir/internal/otlpwire"
)

// FuzzJSON drives OTLP/JSON bodies through the receiver's path: decoded by pdata into
// protobuf (jsonToProto), then checked on the wire as every request is (CheckTraces,
// CheckMetrics). A body that does not decode is refused as invalid (400), never a panic; one
// that decodes gives protobuf the wire check takes whole, with every span or point counted.
func FuzzJSON(f *testing.F) {
	g := otlpgen.New(3)
	g.Big = 20
	for _, n := range []int{1, 7} {
		b, err := ptraceotlp.NewExportRequestFromTraces(g.Traces(n, 2, 3)).MarshalJSON()
		require.NoError(f, err)
		f.Add(b, false)
		m, err := pmetricotlp.NewExportRequestFromMetrics(g.Metrics(n, 2, 3)).MarshalJSON()
		require.NoError(f, err)
		f.Add(m, true)
	}
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","spanId":"0102"}]}]}]}`), false)
	f.Add([]byte(`{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"x","gauge":{"dataPoints":[{"asDouble":"NaN"}]}}]}]}]}`), true)
	f.Add([]byte(`{`), false)
	f.Fuzz(func(t *testing.T, body []byte, metrics bool) {
		sig := signalTraces
		if metrics {
			sig = signalMetrics
		}
		pb, err := jsonToProto(body, sig)
		if err != nil {
			require.True(t, errors.Is(err, errInvalid), "a body that does not decode is the sender's mistake: %v", err)
			return
		}
		if metrics {
			var rd otlpwire.Metrics
			st, err := otlpwire.CheckMetrics(&rd, pb)
			require.NoError(t, err, "pdata's own protobuf refused")
			req := pmetricotlp.NewExportRequest()
			require.NoError(t, req.UnmarshalProto(pb))
			require.Equal(t, req.Metrics().DataPointCount(), st.Points)
			return
		}
		var rd otlpwire.Traces
		st, err := otlpwire.CheckTraces(&rd, pb)
		require.NoError(t, err, "pdata's own protobuf refused")
		req := ptraceotlp.NewExportRequest()
		require.NoError(t, req.UnmarshalProto(pb))
		require.Equal(t, req.Traces().SpanCount(), st.Spans)
	})
}
