package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/internal/collectortest"
	"github.com/weirhq/weir/internal/testnet"
)

// sdkShop is a dozen services, each instrumented as services usually are: its own
// TracerProvider with the SDK's default BatchSpanProcessor (a 5 s schedule delay, 512-span
// batches) exporting OTLP/gRPC straight to weir. Each provider flushes on its own clock, so
// the spans of one trace reach weir up to 5 s apart, the leaves often after the root.
type sdkShop struct {
	providers map[string]*sdktrace.TracerProvider
	tracers   map[string]trace.Tracer
	recorded  *tracetest.SpanRecorder // every span every provider ended
}

var sdkShopServices = []string{"gateway", "checkout", "cart", "catalog", "payments", "fraud",
	"inventory", "shipping", "notifications", "search", "recommendations", "users"}

func newSDKShop(t *testing.T, endpoint string) *sdkShop {
	t.Helper()
	s := &sdkShop{providers: map[string]*sdktrace.TracerProvider{}, tracers: map[string]trace.Tracer{},
		recorded: tracetest.NewSpanRecorder()}
	ctx := context.Background()
	// Services start at different moments, so their 5 s export clocks are out of phase, as in
	// a real fleet: spread the starts over one schedule delay.
	for i, svc := range sdkShopServices {
		if i > 0 {
			time.Sleep(5 * time.Second / time.Duration(len(sdkShopServices)))
		}
		exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure())
		require.NoError(t, err)
		tp := sdktrace.NewTracerProvider(
			sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", svc))),
			sdktrace.WithBatcher(exp), // the SDK's defaults, on purpose
			sdktrace.WithSpanProcessor(s.recorded))
		s.providers[svc] = tp
		s.tracers[svc] = tp.Tracer("weir.test/shop")
	}
	t.Cleanup(func() { _ = s.shutdown(context.Background()) })
	return s
}

func (s *sdkShop) shutdown(ctx context.Context) error {
	var errs []error
	for _, tp := range s.providers {
		errs = append(errs, tp.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// call records a call from client to server under parent: a CLIENT span in the client's
// provider and a SERVER span in the server's, nested in [start, start+dur]. inner runs inside
// the server span. It returns the server span's context.
func (s *sdkShop) call(parent context.Context, client, server, route string, start time.Time, dur time.Duration,
	fail bool, inner func(ctx context.Context, start time.Time, dur time.Duration)) {
	cctx, cspan := s.tracers[client].Start(parent, route, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithTimestamp(start), trace.WithAttributes(attribute.String("peer.service", server)))
	sctx, sspan := s.tracers[server].Start(cctx, route, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithTimestamp(start.Add(dur/20)), trace.WithAttributes(attribute.String("http.route", route)))
	if inner != nil {
		inner(sctx, start.Add(dur/10), dur*8/10)
	}
	if fail {
		sspan.SetStatus(codes.Error, "declined")
	}
	sspan.End(trace.WithTimestamp(start.Add(dur * 19 / 20)))
	cspan.End(trace.WithTimestamp(start.Add(dur)))
}

// request records one trace: the gateway calls one to three services, each of which may call
// one leaf of its own, so most traces touch two to four services (as most requests do) and
// their spans reach weir in a few bursts seconds apart. When failLeaf, a leaf two hops down
// fails and nothing above it is marked.
func (s *sdkShop) request(rng *rand.Rand, end time.Time, failLeaf bool) {
	dur := time.Duration(20+rng.IntN(80)) * time.Millisecond
	start := end.Add(-dur)
	ctx, root := s.tracers["gateway"].Start(context.Background(), "GET /api",
		trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start))
	mid := sdkShopServices[1 : len(sdkShopServices)/2]
	leaves := sdkShopServices[len(sdkShopServices)/2:]
	n := 1 + rng.IntN(3)
	failAt := -1
	if failLeaf {
		failAt = rng.IntN(n)
	}
	step := dur * 9 / 10 / time.Duration(n)
	for i := 0; i < n; i++ {
		svc := mid[rng.IntN(len(mid))]
		st := start.Add(dur/20 + time.Duration(i)*step)
		withLeaf := i == failAt || rng.IntN(2) == 0
		var inner func(ctx context.Context, st time.Time, d time.Duration)
		if withLeaf {
			leaf := leaves[rng.IntN(len(leaves))]
			fail := i == failAt
			inner = func(ctx context.Context, st time.Time, d time.Duration) {
				s.call(ctx, svc, leaf, "POST /"+leaf, st, d, fail, nil)
			}
		}
		s.call(ctx, "gateway", svc, "POST /"+svc, st, step, false, inner)
	}
	root.End(trace.WithTimestamp(end))
}

// TestSDKTiming_ErrorsKeptWhole: a shop of a dozen services with default SDK batching sends
// to the shipped config. Every error span is stored, every trace the sampler keeps is stored
// whole, and request and error counts are exact. Not parallel: it sets environment variables.
func TestSDKTiming_ErrorsKeptWhole(t *testing.T) {
	db := chtest.New(t)
	httpAddr := testnet.FreeAddr(t)
	cfg, env := shippedConfig(t, db, map[string]string{
		"WEIR_OTLP_HTTP_ENDPOINT": httpAddr,
		// weir's last self-metrics push at shutdown goes through a relay that outlives it.
		"WEIR_SELF_METRICS_ENDPOINT": selfMetricsRelay(t, httpAddr),
	})
	factories, err := components()
	require.NoError(t, err)
	collectortest.Start(t, factories, cfg)
	metricsURL := fmt.Sprintf("http://%s:%s/metrics", env["WEIR_METRICS_HOST"], env["WEIR_METRICS_PORT"])

	shop := newSDKShop(t, env["WEIR_OTLP_GRPC_ENDPOINT"])
	rng := rand.New(rand.NewPCG(15, 15))
	// Twelve seconds of traffic, 50 requests a second, one in ten failing in the fraud leaf.
	const seconds, perSecond = 12, 50
	for sec := 0; sec < seconds; sec++ {
		tick := time.Now()
		for i := 0; i < perSecond; i++ {
			shop.request(rng, time.Now(), rng.IntN(10) == 0)
		}
		time.Sleep(time.Until(tick.Add(time.Second)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, shop.shutdown(ctx)) // flushes what each provider still holds

	sent := shop.recorded.Ended()
	var errSpans []string
	perTrace := map[string]int{}
	var requests, reqErrors uint64
	for _, s := range sent {
		perTrace[s.SpanContext().TraceID().String()]++
		if s.Status().Code == codes.Error {
			errSpans = append(errSpans, s.SpanContext().SpanID().String())
		}
		if s.SpanKind() == trace.SpanKindServer {
			requests++
			if s.Status().Code == codes.Error {
				reqErrors++
			}
		}
	}
	require.NotEmpty(t, errSpans)

	// Everything weir received is decided, at the latest after max_wait, then exported.
	waitForCounter(t, metricsURL, "otelcol_receiver_accepted_spans", float64(len(sent)), 30*time.Second)
	deadline := time.Now().Add(60 * time.Second)
	for {
		decided := scrapeCounter(t, metricsURL, "weir_tailsampling_spans_decided") + scrapeCounter(t, metricsURL, "weir_tailsampling_late_spans")
		if decided >= float64(len(sent)) || time.Now().After(deadline) {
			require.Equal(t, float64(len(sent)), decided, "spans decided or late")
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Kept: at the decision, late spans of kept traces, and the held spans of dropped traces
	// that a late span upgraded.
	kept := scrapeCounter(t, metricsURL, "weir_tailsampling_spans_decided", `decision="kept"`) +
		scrapeCounter(t, metricsURL, "weir_tailsampling_late_spans", `decision="kept"`) +
		scrapeCounter(t, metricsURL, "weir_tailsampling_spans_upgraded")
	// The kept spans are in the journal's spans blocks; the count in ClickHouse follows.
	waitForCount(t, db, "SELECT count() FROM "+db.Table("spans"), uint64(kept), 30*time.Second)

	spans := db.Table("spans")
	var missing []string
	for _, id := range errSpans {
		if db.QueryUint64(t, "SELECT count() FROM "+spans+" WHERE SpanId = unhex('"+id+"')") != 1 {
			missing = append(missing, id)
		}
	}
	t.Logf("%d spans in %d traces sent; %d error spans, %d not stored; %.0f spans kept; %.0f traces upgraded by a late span",
		len(sent), len(perTrace), len(errSpans), len(missing), kept, scrapeCounter(t, metricsURL, "weir_tailsampling_traces_upgraded"))
	assert.Empty(t, missing, "error spans not stored: %d of %d", len(missing), len(errSpans))

	// Kept traces are whole: every trace with a stored span has all its spans stored.
	rows, err := db.Conn.Query(ctx, "SELECT lower(hex(TraceId)), count() FROM "+spans+" GROUP BY TraceId")
	require.NoError(t, err)
	var keptTraces, whole int
	for rows.Next() {
		var id string
		var n uint64
		require.NoError(t, rows.Scan(&id, &n))
		keptTraces++
		if int(n) == perTrace[id] {
			whole++
		}
	}
	require.NoError(t, rows.Err())
	t.Logf("%d traces kept, %d whole", keptTraces, whole)
	require.NotZero(t, keptTraces)
	assert.GreaterOrEqual(t, float64(whole)/float64(keptTraces), 0.999, "share of kept traces stored whole")

	// Counts stay exact: every SERVER span is a request in red_1m, its errors too. weir_red
	// flushes every 15 s.
	waitForCount(t, db, "SELECT toUInt64(sum(Requests)) FROM "+db.Table("red_1m")+" WHERE SpanKind = 2", requests, 40*time.Second)
	assert.Equal(t, reqErrors, db.QueryUint64(t, "SELECT toUInt64(sum(Requests)) FROM "+db.Table("red_1m")+" WHERE SpanKind = 2 AND StatusCode = 2"))
}
