// Package metricstage is weir's metric point stages on the OTLP wire format: cumulative sums and
// histograms to deltas, then the series limit. They do what the cumulative_to_delta processor
// (opentelemetry-collector-contrib) and weir_series_limit do to pdata, on otlpwire points, so
// the ingest path decodes a point once.
//
// # Cumulative to delta
//
// As cumulative_to_delta with initial_value auto: a stream (series, scope version and
// attributes, unit, type, value type, monotonicity, start time) is converted when it is a
// monotonic cumulative sum, a cumulative histogram or a cumulative exponential histogram.
// Its first point passes, as is, only when the stream started after weir did (else it is
// dropped: there is nothing to subtract it from); a later point becomes its difference from
// the one before, starting where that one was observed; a point below the one before (a
// reset), or a histogram whose buckets changed, is dropped and starts over. Min and max of a
// converted histogram point are removed (they cannot be differenced). A NaN sum point passes
// unconverted. A stream silent for MaxStaleness is forgotten.
//
// # Series limit
//
// As weir_series_limit: per service and metric at most MaxSeriesPerMetric live series, at most
// MaxSeriesTotal in all; a point of a further series keeps its values under the single
// attribute otel.metric.overflow = true. A series idle for SeriesIdle frees its place.
//
// # Time
//
// The stages read time from the request's arrival (the "at" of Point), not the clock, so that a
// replay of the ingest journal after a crash decides every point as the first run did.
// Snapshot and Load carry their state across restarts.
package metricstage // import "github.com/weirhq/weir/internal/metricstage"
