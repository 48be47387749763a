package clickhouseexporter

import (
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/weirhq/weir/internal/model"
)

var redColumns = []string{
	"Timestamp", "ServiceName", "SpanName", "SpanKind", "StatusCode", "DimKeys", "DimValues",
	"Requests", "DurationSumNano", "ZeroCount", "BucketIndexes", "BucketCounts",
}

var edgeColumns = []string{
	"Timestamp", "Client", "Server", "ConnectionType", "Failed",
	"Calls", "DurationSumNano", "ZeroCount", "BucketIndexes", "BucketCounts",
}

// latencyCols are the columns of a mergeable latency distribution, shared by both tables.
type latencyCols struct {
	count   []uint64
	sum     []float64
	zero    []uint64
	indexes nested[int32]
	counts  nested[uint64]
}

func (l *latencyCols) reset() {
	l.count, l.sum, l.zero = l.count[:0], l.sum[:0], l.zero[:0]
	l.indexes.reset()
	l.counts.reset()
}

// add appends p's distribution; buckets are stored sparsely (index, count), zeros left out,
// so sumMap adds them across rows.
func (l *latencyCols) add(p pmetric.ExponentialHistogramDataPoint) int {
	l.count = append(l.count, p.Count())
	l.sum = append(l.sum, p.Sum())
	l.zero = append(l.zero, p.ZeroCount())
	si, sc := l.indexes.begin(), l.counts.begin()
	bc := p.Positive().BucketCounts()
	off := p.Positive().Offset()
	for i := 0; i < bc.Len(); i++ {
		if c := bc.At(i); c > 0 {
			l.indexes.add(off + int32(i))
			l.counts.add(c)
		}
	}
	l.indexes.end(si)
	l.counts.end(sc)
	return 24 + 12*(len(l.indexes.flat)-si)
}

// redBlocks are the red_1m and edges_1m blocks of one batch.
type redBlocks struct {
	red  redBlock
	edge edgeBlock
}

type redBlock struct {
	rows, bytes int
	timestamp   []int64
	service     []string
	name        []string
	kind        []uint8
	status      []uint8
	dimKeys     nested[string]
	dimVals     nested[string]
	lat         latencyCols
}

type edgeBlock struct {
	rows, bytes int
	timestamp   []int64
	client      []string
	server      []string
	conn        []string
	failed      []uint8
	lat         latencyCols
}

func (b *redBlocks) reset() {
	r := &b.red
	r.rows, r.bytes = 0, 0
	r.timestamp, r.service, r.name, r.kind, r.status = r.timestamp[:0], r.service[:0], r.name[:0], r.kind[:0], r.status[:0]
	r.dimKeys.reset()
	r.dimVals.reset()
	r.lat.reset()
	e := &b.edge
	e.rows, e.bytes = 0, 0
	e.timestamp, e.client, e.server, e.conn, e.failed = e.timestamp[:0], e.client[:0], e.server[:0], e.conn[:0], e.failed[:0]
	e.lat.reset()
}

// isRED reports whether a scope holds weir_red's metrics.
func isRED(sm pmetric.ScopeMetrics) bool { return sm.Scope().Name() == model.REDScope }

// addScope appends the points of a weir_red scope. Unknown metric names in the scope are
// skipped: they would come from a newer weir_red than this exporter knows.
func (b *redBlocks) addScope(service string, sm pmetric.ScopeMetrics) {
	ms := sm.Metrics()
	for i := 0; i < ms.Len(); i++ {
		m := ms.At(i)
		if m.Type() != pmetric.MetricTypeExponentialHistogram {
			continue
		}
		dps := m.ExponentialHistogram().DataPoints()
		switch m.Name() {
		case model.REDMetric:
			for j := 0; j < dps.Len(); j++ {
				b.red.add(service, dps.At(j))
			}
		case model.EdgeMetric:
			for j := 0; j < dps.Len(); j++ {
				b.edge.add(dps.At(j))
			}
		}
	}
}

func (r *redBlock) add(service string, p pmetric.ExponentialHistogramDataPoint) {
	a := p.Attributes()
	r.timestamp = append(r.timestamp, int64(uint64(p.StartTimestamp())/1e9))
	r.service = append(r.service, service)
	name, kind, status := "", int64(0), int64(0)
	sk, sv := r.dimKeys.begin(), r.dimVals.begin()
	a.Range(func(k string, v pcommon.Value) bool {
		switch k {
		case "span.name":
			name = v.Str()
		case "span.kind":
			kind = v.Int()
		case "status.code":
			status = v.Int()
		default:
			r.dimKeys.add(k)
			r.dimVals.add(v.AsString())
		}
		return true
	})
	r.dimKeys.end(sk)
	r.dimVals.end(sv)
	r.name = append(r.name, name)
	r.kind = append(r.kind, uint8(kind))
	r.status = append(r.status, uint8(status))
	r.bytes += 32 + len(service) + len(name) + r.lat.add(p)
	r.rows++
}

func (e *edgeBlock) add(p pmetric.ExponentialHistogramDataPoint) {
	a := p.Attributes()
	e.timestamp = append(e.timestamp, int64(uint64(p.StartTimestamp())/1e9))
	str := func(k string) string {
		if v, ok := a.Get(k); ok {
			return v.AsString()
		}
		return ""
	}
	e.client = append(e.client, str("client"))
	e.server = append(e.server, str("server"))
	e.conn = append(e.conn, str("connection_type"))
	failed := uint8(0)
	if v, ok := a.Get("failed"); ok && v.Bool() {
		failed = 1
	}
	e.failed = append(e.failed, failed)
	e.bytes += 48 + e.lat.add(p)
	e.rows++
}

func (r *redBlock) columns() []string { return redColumns }
func (r *redBlock) size() (int, int)  { return r.rows, r.bytes }
func (r *redBlock) appendTo(batch driver.Batch) error {
	return appendColumns(batch, redColumns, []any{
		r.timestamp, r.service, r.name, r.kind, r.status, r.dimKeys.rows, r.dimVals.rows,
		r.lat.count, r.lat.sum, r.lat.zero, r.lat.indexes.rows, r.lat.counts.rows,
	})
}

func (e *edgeBlock) columns() []string { return edgeColumns }
func (e *edgeBlock) size() (int, int)  { return e.rows, e.bytes }
func (e *edgeBlock) appendTo(batch driver.Batch) error {
	return appendColumns(batch, edgeColumns, []any{
		e.timestamp, e.client, e.server, e.conn, e.failed,
		e.lat.count, e.lat.sum, e.lat.zero, e.lat.indexes.rows, e.lat.counts.rows,
	})
}
