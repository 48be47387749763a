package clickhouseexporter

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/ClickHouse/ch-go/compress"
	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	proto "github.com/ClickHouse/clickhouse-go/v2/lib/proto"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/rollup"
)

// How to read these benchmarks: every span benchmark runs on the same batch per shape and
// reports ns/span and allocs/span, so BenchmarkSpanBlock_* divided by BenchmarkProto_Unmarshal
// (the work the OTLP receiver does on every request anyway) is a ratio that holds on a noisy
// machine. SetBytes is the batch's OTLP protobuf size, so MB/s compare across them too.

const (
	benchSpans    = 10_000 // spans per batch
	benchSDKBatch = 512    // spans per ResourceSpans: what one SDK export request carries
	benchPoints   = 10_000 // metric data points per batch
	benchNoLimit  = 1 << 62
)

// benchShape is one kind of span batch.
type benchShape struct {
	name  string
	build func(n int) ptrace.Traces
}

var benchShapes = []benchShape{
	{"telemetrygen", benchTelemetrygenTraces},
	{"rich", benchRichTraces},
}

// benchTelemetrygenTraces builds n spans shaped like telemetrygen's: two spans per trace (a
// SERVER parent "lets-go" and a CLIENT child "okey-dokey", 123µs each) with two string
// attributes, plus two int attributes; one resource per 512 spans, as the collector's batcher
// leaves them, with service.name and four SDK/host attributes.
func benchTelemetrygenTraces(n int) ptrace.Traces {
	rnd := rand.New(rand.NewPCG(1, 2))
	td := ptrace.NewTraces()
	start := pcommon.Timestamp(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	var spans ptrace.SpanSlice
	var tid pcommon.TraceID
	var parent pcommon.SpanID
	for i := 0; i < n; i++ {
		if i%benchSDKBatch == 0 {
			rs := td.ResourceSpans().AppendEmpty()
			ra := rs.Resource().Attributes()
			ra.PutStr("service.name", "telemetrygen")
			ra.PutStr("telemetry.sdk.language", "go")
			ra.PutStr("telemetry.sdk.name", "opentelemetry")
			ra.PutStr("telemetry.sdk.version", "1.47.0")
			ra.PutStr("host.name", "loadgen-7f9c")
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName("telemetrygen")
			spans = ss.Spans()
			spans.EnsureCapacity(benchSDKBatch)
		}
		sp := spans.AppendEmpty()
		child := i%2 == 1
		if !child {
			binary.LittleEndian.PutUint64(tid[:8], rnd.Uint64()|1)
			binary.LittleEndian.PutUint64(tid[8:], rnd.Uint64())
		}
		var sid pcommon.SpanID
		binary.LittleEndian.PutUint64(sid[:], rnd.Uint64()|1)
		sp.SetTraceID(tid)
		sp.SetSpanID(sid)
		ts := start + pcommon.Timestamp(i)*20_000
		sp.SetStartTimestamp(ts)
		sp.SetEndTimestamp(ts + 123_000)
		a := sp.Attributes()
		a.EnsureCapacity(4)
		a.PutStr("net.sock.peer.addr", "1.2.3.4")
		if child {
			sp.SetParentSpanID(parent)
			sp.SetName("okey-dokey")
			sp.SetKind(ptrace.SpanKindClient)
			a.PutStr("peer.service", "telemetrygen-server")
		} else {
			parent = sid
			sp.SetName("lets-go")
			sp.SetKind(ptrace.SpanKindServer)
			a.PutStr("peer.service", "telemetrygen-client")
		}
		a.PutInt("http.response.status_code", 200)
		a.PutInt("thread.id", int64(i%64))
	}
	return td
}

// benchRichTraces builds n spans with 15 attributes of mixed types (strings, ints, doubles,
// bools, a slice and a map), two events with attributes, one link, and an error status on
// every tenth span.
func benchRichTraces(n int) ptrace.Traces {
	td := benchTelemetrygenTraces(n)
	rnd := rand.New(rand.NewPCG(3, 4))
	i := 0
	rss := td.ResourceSpans()
	for r := 0; r < rss.Len(); r++ {
		spans := rss.At(r).ScopeSpans().At(0).Spans()
		for j := 0; j < spans.Len(); j++ {
			sp := spans.At(j)
			a := sp.Attributes()
			a.Clear()
			a.EnsureCapacity(15)
			a.PutStr("http.request.method", "GET")
			a.PutStr("url.path", "/api/v1/orders/"+strconv.Itoa(i%1000))
			a.PutStr("server.address", "orders.internal")
			a.PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36")
			a.PutStr("net.sock.peer.addr", "10.1.2.3")
			a.PutStr("db.system", "postgresql")
			a.PutInt("http.response.status_code", 200)
			a.PutInt("server.port", 8080)
			a.PutInt("http.request.body.size", int64(rnd.IntN(1<<16)))
			a.PutInt("thread.id", int64(i%64))
			a.PutDouble("sampling.ratio", 0.25)
			a.PutDouble("queue.wait_ms", rnd.Float64()*10)
			a.PutBool("cache.hit", i%3 == 0)
			a.PutBool("retry", false)
			sl := a.PutEmptySlice("tags")
			sl.AppendEmpty().SetStr("blue")
			sl.AppendEmpty().SetStr("canary")
			ts := sp.StartTimestamp()
			for e := 0; e < 2; e++ {
				ev := sp.Events().AppendEmpty()
				ev.SetTimestamp(ts + pcommon.Timestamp(e)*10_000)
				ev.SetName("message")
				ev.Attributes().PutStr("message.type", "SENT")
				ev.Attributes().PutInt("message.id", int64(e))
			}
			lk := sp.Links().AppendEmpty()
			var tid pcommon.TraceID
			binary.LittleEndian.PutUint64(tid[:8], rnd.Uint64()|1)
			lk.SetTraceID(tid)
			lk.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
			lk.Attributes().PutStr("link.kind", "follows_from")
			if i%10 == 0 {
				sp.Status().SetCode(ptrace.StatusCodeError)
				sp.Status().SetMessage("deadline exceeded")
			}
			i++
		}
	}
	return td
}

// benchProtoTraces returns td's OTLP protobuf encoding.
func benchProtoTraces(b *testing.B, td ptrace.Traces) []byte {
	b.Helper()
	buf, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		b.Fatalf("marshal traces: %v", err)
	}
	return buf
}

// perItem reports ns and allocations per item (span or data point) of the loop that ran
// between start and now; mallocs0 is runtime.MemStats.Mallocs at start.
func perItem(b *testing.B, unit string, items int, mallocs0 uint64) {
	b.Helper()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	n := float64(b.N) * float64(items)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/"+unit)
	b.ReportMetric(float64(ms.Mallocs-mallocs0)/n, "allocs/"+unit)
}

func startAllocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// BenchmarkProto_Unmarshal is the baseline of the span benchmarks: decoding the same batch
// from OTLP protobuf, which the receiver does for every request before weir sees it.
func BenchmarkProto_Unmarshal(b *testing.B) {
	for _, sh := range benchShapes {
		b.Run("spans-"+sh.name, func(b *testing.B) {
			buf := benchProtoTraces(b, sh.build(benchSpans))
			u := &ptrace.ProtoUnmarshaler{}
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			m0 := startAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				td, err := u.UnmarshalTraces(buf)
				if err != nil {
					b.Fatal(err)
				}
				if td.SpanCount() != benchSpans {
					b.Fatalf("unmarshaled %d spans, want %d", td.SpanCount(), benchSpans)
				}
			}
			perItem(b, "span", benchSpans, m0)
		})
	}
	b.Run("metrics", func(b *testing.B) {
		md := benchMetrics()
		buf, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
		if err != nil {
			b.Fatal(err)
		}
		u := &pmetric.ProtoUnmarshaler{}
		b.SetBytes(int64(len(buf)))
		b.ReportAllocs()
		m0 := startAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := u.UnmarshalMetrics(buf); err != nil {
				b.Fatal(err)
			}
		}
		perItem(b, "point", md.DataPointCount(), m0)
	})
}

// BenchmarkSpanBlock_Fill measures turning a batch into columns: fill into a block reused
// from iteration to iteration, as the exporter means to reuse blocks through its pool. The
// "-cold" variants fill a new block every time, which is what happens when the pool has been
// emptied by the garbage collector and every column grows again from nothing.
func BenchmarkSpanBlock_Fill(b *testing.B) {
	for _, sh := range benchShapes {
		for _, cold := range []bool{false, true} {
			name := sh.name
			if cold {
				name += "-cold"
			}
			b.Run(name, func(b *testing.B) {
				td := sh.build(benchSpans)
				b.SetBytes(int64(len(benchProtoTraces(b, td))))
				blk := newSpanBlock(nil)
				blk.fill(td, spanPos{}, benchNoLimit, benchNoLimit) // grow the columns once
				b.ReportAllocs()
				m0 := startAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if cold {
						blk = newSpanBlock(nil)
					}
					if _, done := blk.fill(td, spanPos{}, benchNoLimit, benchNoLimit); !done || blk.rows != benchSpans {
						b.Fatalf("fill: done=%v rows=%d, want one block of %d", done, blk.rows, benchSpans)
					}
				}
				perItem(b, "span", benchSpans, m0)
			})
		}
	}
}

// BenchmarkSpanBlock_Encode measures fill plus the driver's side of an INSERT without
// sending rows: PrepareBatch against the shared server, appendTo (the driver copies every
// column into its own), then Abort.
//
//   - append: exactly that.
//   - append-whole: the same, but each column handed to the driver as one slice, as the
//     exporter did before appendColumns fed arrays row by row (the baseline of append). Abort closes the connection (the server waits for data), so each
//     iteration also dials again; BenchmarkClickHouse_PrepareAbort measures that fixed cost,
//     which the exporter pays once per INSERT on a pooled connection and without the dial.
//   - wire: also serializes the block to the native format and LZ4-compresses it as
//     batch.Send does before writing to the socket (chunks of 10 MiB, the driver default).
func BenchmarkSpanBlock_Encode(b *testing.B) {
	db := chtest.New(b)
	ctx := context.Background()
	if _, err := rollup.Migrate(ctx, db.Conn, db.Name, 0); err != nil {
		b.Fatalf("migrate: %v", err)
	}
	query := insertQuery(db.Name, rollup.TableSpans, spanColumns)
	for _, sh := range benchShapes {
		td := sh.build(benchSpans)
		size := int64(len(benchProtoTraces(b, td)))
		for _, mode := range []string{"append", "append-whole", "wire"} {
			name := sh.name + "/" + mode
			wire := mode == "wire"
			b.Run(name, func(b *testing.B) {
				blk := newSpanBlock(nil)
				var w benchWire
				b.SetBytes(size)
				b.ReportAllocs()
				m0 := startAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					blk.fill(td, spanPos{}, benchNoLimit, benchNoLimit)
					batch, err := db.Conn.PrepareBatch(ctx, query)
					if err != nil {
						b.Fatalf("prepare batch: %v", err)
					}
					if mode == "append-whole" {
						// The driver's own path for a whole column of arrays (reflection per
						// element), which appendColumns avoids: the baseline of "append".
						for i, c := range blk.values() {
							if err := batch.Column(i).Append(c); err != nil {
								b.Fatalf("append %s: %v", spanColumns[i], err)
							}
						}
					} else if err := blk.appendTo(batch); err != nil {
						b.Fatalf("append: %v", err)
					}
					if batch.Rows() != benchSpans {
						b.Fatalf("batch has %d rows, want %d", batch.Rows(), benchSpans)
					}
					if wire {
						if err := w.encode(batch); err != nil {
							b.Fatalf("encode: %v", err)
						}
					}
					if err := batch.Abort(); err != nil {
						b.Fatalf("abort: %v", err)
					}
				}
				perItem(b, "span", benchSpans, m0)
				if wire {
					b.ReportMetric(float64(w.raw)/float64(b.N*benchSpans), "native-B/span")
					b.ReportMetric(float64(w.compressed)/float64(b.N*benchSpans), "lz4-B/span")
				}
			})
		}
	}
}

// benchWire serializes a batch's block as the driver's Send does, into buffers it reuses.
type benchWire struct {
	buf             chproto.Buffer
	zw              *compress.Writer
	raw, compressed int
}

// maxCompressionBuffer is clickhouse-go's default: Send compresses and flushes a block's
// buffer whenever it reaches this size.
const maxCompressionBuffer = 10 << 20

func (w *benchWire) encode(batch driver.Batch) error {
	if w.zw == nil {
		w.zw = compress.NewWriter(compress.LevelZero, compress.LZ4)
	}
	blk := &proto.Block{Columns: batch.Columns()}
	w.buf.Reset()
	if err := blk.EncodeHeader(&w.buf, proto.DBMS_TCP_PROTOCOL_VERSION); err != nil {
		return err
	}
	for i := range blk.Columns {
		if err := blk.EncodeColumn(&w.buf, proto.DBMS_TCP_PROTOCOL_VERSION, i); err != nil {
			return err
		}
		if len(w.buf.Buf) >= maxCompressionBuffer {
			if err := w.flush(); err != nil {
				return err
			}
		}
	}
	return w.flush()
}

func (w *benchWire) flush() error {
	if len(w.buf.Buf) == 0 {
		return nil
	}
	if err := w.zw.Compress(w.buf.Buf); err != nil {
		return err
	}
	w.raw += len(w.buf.Buf)
	w.compressed += len(w.zw.Data)
	w.buf.Reset()
	return nil
}

// BenchmarkClickHouse_PrepareAbort is the fixed cost per iteration inside
// BenchmarkSpanBlock_Encode: PrepareBatch of the spans INSERT and Abort, no rows. Abort
// closes the connection, so this includes a dial and handshake on loopback.
func BenchmarkClickHouse_PrepareAbort(b *testing.B) {
	db := chtest.New(b)
	ctx := context.Background()
	if _, err := rollup.Migrate(ctx, db.Conn, db.Name, 0); err != nil {
		b.Fatalf("migrate: %v", err)
	}
	query := insertQuery(db.Name, rollup.TableSpans, spanColumns)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch, err := db.Conn.PrepareBatch(ctx, query)
		if err != nil {
			b.Fatalf("prepare batch: %v", err)
		}
		if err := batch.Abort(); err != nil {
			b.Fatalf("abort: %v", err)
		}
	}
}

// benchMetrics builds 10,000 data points: 20 resources of 20 metrics (8 gauges, 8 sums,
// 3 histograms with 16 bounds, 1 exponential histogram with 20+20 buckets), 25 points each,
// each point with three attributes (two strings and an int).
func benchMetrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	ts := pcommon.Timestamp(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	bounds := []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 25, 50}
	attrs := func(a pcommon.Map, p int) {
		a.EnsureCapacity(3)
		a.PutStr("http.request.method", [...]string{"GET", "POST", "PUT", "DELETE", "PATCH"}[p%5])
		a.PutStr("http.route", "/api/v1/items/"+strconv.Itoa(p/5))
		a.PutInt("http.response.status_code", int64(200+p%3))
	}
	const resources, metricsPer, pointsPer = 20, 20, 25
	for r := 0; r < resources; r++ {
		rm := md.ResourceMetrics().AppendEmpty()
		ra := rm.Resource().Attributes()
		ra.PutStr("service.name", "checkout")
		ra.PutStr("service.instance.id", "checkout-"+strconv.Itoa(r))
		ra.PutStr("host.name", "node-"+strconv.Itoa(r%4))
		ra.PutStr("telemetry.sdk.language", "go")
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
		sm.Scope().SetVersion("0.72.0")
		for m := 0; m < metricsPer; m++ {
			met := sm.Metrics().AppendEmpty()
			met.SetName("app.metric." + strconv.Itoa(m))
			met.SetUnit("1")
			switch {
			case m < 8:
				dps := met.SetEmptyGauge().DataPoints()
				for p := 0; p < pointsPer; p++ {
					dp := dps.AppendEmpty()
					dp.SetTimestamp(ts)
					dp.SetDoubleValue(float64(p) * 1.5)
					attrs(dp.Attributes(), p)
				}
			case m < 16:
				s := met.SetEmptySum()
				s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
				s.SetIsMonotonic(true)
				for p := 0; p < pointsPer; p++ {
					dp := s.DataPoints().AppendEmpty()
					dp.SetStartTimestamp(ts - 60e9)
					dp.SetTimestamp(ts)
					dp.SetIntValue(int64(p * 1000))
					attrs(dp.Attributes(), p)
				}
			case m < 19:
				h := met.SetEmptyHistogram()
				h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
				for p := 0; p < pointsPer; p++ {
					dp := h.DataPoints().AppendEmpty()
					dp.SetStartTimestamp(ts - 60e9)
					dp.SetTimestamp(ts)
					dp.SetCount(uint64(100 + p))
					dp.SetSum(float64(p) * 3.2)
					dp.SetMin(0.001)
					dp.SetMax(42)
					dp.ExplicitBounds().FromRaw(bounds)
					counts := make([]uint64, len(bounds)+1)
					for k := range counts {
						counts[k] = uint64(k + p)
					}
					dp.BucketCounts().FromRaw(counts)
					attrs(dp.Attributes(), p)
				}
			default:
				h := met.SetEmptyExponentialHistogram()
				h.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
				for p := 0; p < pointsPer; p++ {
					dp := h.DataPoints().AppendEmpty()
					dp.SetStartTimestamp(ts - 60e9)
					dp.SetTimestamp(ts)
					dp.SetCount(400)
					dp.SetSum(123.4)
					dp.SetScale(3)
					dp.Positive().SetOffset(-2)
					dp.Negative().SetOffset(1)
					counts := make([]uint64, 20)
					for k := range counts {
						counts[k] = uint64(k)
					}
					dp.Positive().BucketCounts().FromRaw(counts)
					dp.Negative().BucketCounts().FromRaw(counts)
					attrs(dp.Attributes(), p)
				}
			}
		}
	}
	return md
}

// BenchmarkMetricBlocks_Fill measures turning a metrics batch into the five tables' columns,
// with blocks reused from iteration to iteration; its baseline is
// BenchmarkProto_Unmarshal/metrics.
func BenchmarkMetricBlocks_Fill(b *testing.B) {
	md := benchMetrics()
	points := md.DataPointCount()
	if points != benchPoints {
		b.Fatalf("batch has %d points, want %d", points, benchPoints)
	}
	buf, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	bs := newMetricBlocks()
	bs.fill(md) // grow the columns once
	b.ReportAllocs()
	m0 := startAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bs.fill(md)
	}
	perItem(b, "point", points, m0)
	rows := 0
	for _, blk := range bs.all() {
		rows += blk.rows
	}
	if rows != points {
		b.Fatalf("blocks hold %d rows, want %d", rows, points)
	}
}
