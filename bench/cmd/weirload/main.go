// Command weirload sends OTLP traces or metrics over gRPC at a steady rate, to load weir (or
// any OTLP receiver) for benchmarks.
//
// Traces (-signal traces, the default) are shaped like telemetrygen's defaults: traces of two
// spans, a SERVER parent "lets-go" and a CLIENT child "okey-dokey", each lasting 123µs, with
// resource service.name=telemetrygen, scope "telemetrygen", and span attributes
// net.sock.peer.addr=1.2.3.4 and peer.service (telemetrygen-client on the parent,
// telemetrygen-server on the child). Trace and span IDs are random.
//
// -trace-spans changes the shape to traces of that many spans, a root SERVER span and CLIENT
// children of it; -error-share makes that share of traces carry an Error status on their last
// span, and -slow-share makes that share last -slow-duration (the root spans it, the children
// start at its start). The defaults keep telemetrygen's shape. A trace never straddles two
// requests: use a -batch that is a multiple of -trace-spans, or the last trace of each request
// is cut short.
//
// Metrics (-signal metrics) come from a fixed set of series, -batch of them per worker: every
// request of a worker carries one point of each of its series, so a request holds -batch
// points and a series' points arrive in order. The five point types take turns (series i has
// type i mod 5): gauges, cumulative monotonic int sums, cumulative explicit-bucket histograms,
// cumulative exponential histograms and summaries, four metric names per type
// (weirload.<type>.<0-3>), each series told apart by its attributes series and worker. The
// cumulative values only grow, and every cumulative series starts when weirload does
// (StartTimeUnixNano), so a receiver that turns cumulative points into deltas and drops the
// first point of series older than itself keeps every point weirload sends when it was started
// before weirload.
//
// Every request carries -batch spans or points (512 by default, the OpenTelemetry SDK's batch
// size) in one resource and is built afresh with pdata, as an SDK would. -workers goroutines
// share one gRPC connection and one schedule: request k is due at start + k*batch/rate, so the
// offered rate holds as long as the workers keep up; -rate 0 sends as fast as they can.
//
// weirload stops issuing requests when -duration has passed, waits at most -timeout for the
// ones in flight, and prints one summary line of key=value pairs to stdout:
//
//	weirload: signal=traces rate_target=50000 elapsed_s=30.01 requests=2930
//	spans_sent=1500160 spans_acked=1500160 spans_rejected=0 errors=0 rate_achieved=49989 ...
//
// (points_sent, points_acked and points_rejected with -signal metrics). spans_acked counts
// spans in requests the receiver answered OK, minus those it reported as rejected in a partial
// success; rate_achieved is spans_acked per second of elapsed time. Progress goes to stderr
// every -report interval. The exit status is 0 even when some requests failed (errors > 0
// tells); it is 1 on bad flags or when nothing was acked.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/status"
)

// spanDuration is telemetrygen's default span duration.
const spanDuration = 123 * time.Microsecond

type config struct {
	signal      string // traces or metrics
	endpoint    string
	rate        float64
	duration    time.Duration
	batch       int
	workers     int
	timeout     time.Duration
	report      time.Duration
	service     string
	compression string
	shape       shape
}

// shape is the shape of the generated traces.
type shape struct {
	spans    int           // spans per trace, the first is the root
	errShare float64       // share of traces with an Error status on their last span
	slow     float64       // share of traces lasting slowDur
	slowDur  time.Duration // length of a slow trace
}

func main() {
	var cfg config
	flag.StringVar(&cfg.signal, "signal", "traces", "what to send: traces or metrics")
	flag.StringVar(&cfg.endpoint, "endpoint", "127.0.0.1:4317", "OTLP gRPC endpoint, host:port (plaintext)")
	flag.Float64Var(&cfg.rate, "rate", 50000, "target spans (or points) per second; 0 sends as fast as the workers go")
	flag.DurationVar(&cfg.duration, "duration", 30*time.Second, "how long to send")
	flag.IntVar(&cfg.batch, "batch", 512, "spans (or points) per request; with metrics also the series per worker")
	flag.IntVar(&cfg.workers, "workers", 4, "concurrent senders")
	flag.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "deadline of one request")
	flag.DurationVar(&cfg.report, "report", 5*time.Second, "progress interval on stderr; 0 for none")
	flag.StringVar(&cfg.service, "service", "telemetrygen", "service.name of the resource")
	flag.StringVar(&cfg.compression, "compression", "none", "request compression: none or gzip")
	flag.IntVar(&cfg.shape.spans, "trace-spans", 2, "spans per trace: one root and its children")
	flag.Float64Var(&cfg.shape.errShare, "error-share", 0, "share of traces with an Error span, in [0, 1]")
	flag.Float64Var(&cfg.shape.slow, "slow-share", 0, "share of traces lasting -slow-duration, in [0, 1]")
	flag.DurationVar(&cfg.shape.slowDur, "slow-duration", 2*time.Second, "length of a slow trace")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := cfg.validate(); err != nil {
		log.Error("bad flags", "err", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := run(ctx, cfg, log)
	if err != nil {
		log.Error("weirload failed", "err", err)
		os.Exit(1)
	}
	fmt.Println(st.summary(cfg))
	if st.acked.Load() == 0 {
		log.Error("nothing was acknowledged", "signal", cfg.signal, "endpoint", cfg.endpoint)
		os.Exit(1)
	}
}

func (c config) validate() error {
	var errs []error
	if c.signal != "traces" && c.signal != "metrics" {
		errs = append(errs, fmt.Errorf("-signal %q: use traces or metrics", c.signal))
	}
	if c.endpoint == "" {
		errs = append(errs, errors.New("-endpoint is empty"))
	}
	if c.rate < 0 {
		errs = append(errs, fmt.Errorf("-rate must be >= 0, got %g", c.rate))
	}
	if c.duration <= 0 {
		errs = append(errs, fmt.Errorf("-duration must be positive, got %s", c.duration))
	}
	if c.batch < 1 {
		errs = append(errs, fmt.Errorf("-batch must be at least 1, got %d", c.batch))
	}
	if c.workers < 1 {
		errs = append(errs, fmt.Errorf("-workers must be at least 1, got %d", c.workers))
	}
	if c.timeout <= 0 {
		errs = append(errs, fmt.Errorf("-timeout must be positive, got %s", c.timeout))
	}
	if c.shape.spans < 1 {
		errs = append(errs, fmt.Errorf("-trace-spans must be at least 1, got %d", c.shape.spans))
	}
	if c.shape.errShare < 0 || c.shape.errShare > 1 {
		errs = append(errs, fmt.Errorf("-error-share must be within [0, 1], got %g", c.shape.errShare))
	}
	if c.shape.slow < 0 || c.shape.slow > 1 {
		errs = append(errs, fmt.Errorf("-slow-share must be within [0, 1], got %g", c.shape.slow))
	}
	if c.shape.slowDur <= 0 {
		errs = append(errs, fmt.Errorf("-slow-duration must be positive, got %s", c.shape.slowDur))
	}
	if c.compression != "none" && c.compression != "gzip" {
		errs = append(errs, fmt.Errorf("-compression %q: use none or gzip", c.compression))
	}
	return errors.Join(errs...)
}

// stats are the run's counters, updated by every worker.
type stats struct {
	start    time.Time
	end      atomic.Int64 // unix nanos of the last response
	requests atomic.Int64
	sent     atomic.Int64
	acked    atomic.Int64
	rejected atomic.Int64
	failed   atomic.Int64 // requests that failed
	latency  atomic.Int64 // sum of request latencies, ns

	mu     sync.Mutex
	errors map[string]int64 // by gRPC code
}

func (s *stats) fail(err error) {
	s.failed.Add(1)
	code := status.Code(err).String()
	s.mu.Lock()
	s.errors[code]++
	s.mu.Unlock()
}

func (s *stats) elapsed() time.Duration {
	return time.Unix(0, s.end.Load()).Sub(s.start)
}

func (s *stats) summary(cfg config) string {
	el := s.elapsed().Seconds()
	reqs := s.requests.Load()
	var meanMS float64
	if reqs > 0 {
		meanMS = float64(s.latency.Load()) / float64(reqs) / 1e6
	}
	s.mu.Lock()
	codes := make([]string, 0, len(s.errors))
	for c, n := range s.errors {
		codes = append(codes, fmt.Sprintf("%s:%d", c, n))
	}
	s.mu.Unlock()
	sort.Strings(codes)
	errs := "none"
	if len(codes) > 0 {
		errs = strings.Join(codes, ",")
	}
	unit := "spans"
	if cfg.signal == "metrics" {
		unit = "points"
	}
	return fmt.Sprintf("weirload: signal=%s rate_target=%g elapsed_s=%.2f requests=%d %s_sent=%d %s_acked=%d "+
		"%s_rejected=%d errors=%d error_codes=%s rate_achieved=%.0f mean_latency_ms=%.2f batch=%d workers=%d",
		cfg.signal, cfg.rate, el, reqs, unit, s.sent.Load(), unit, s.acked.Load(), unit, s.rejected.Load(),
		s.failed.Load(), errs, float64(s.acked.Load())/el, meanMS, cfg.batch, cfg.workers)
}

func run(ctx context.Context, cfg config, log *slog.Logger) (*stats, error) {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64 << 20)),
	}
	if cfg.compression == "gzip" {
		opts = append(opts, grpc.WithDefaultCallOptions(grpc.UseCompressor(gzip.Name)))
	}
	cc, err := grpc.NewClient(cfg.endpoint, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", cfg.endpoint, err)
	}
	defer cc.Close()

	st := &stats{start: time.Now(), errors: map[string]int64{}}
	st.end.Store(st.start.UnixNano())
	stopAt := st.start.Add(cfg.duration)
	// Requests still in flight when the duration is over get at most one timeout more.
	ctx, cancel := context.WithDeadline(ctx, stopAt.Add(cfg.timeout))
	defer cancel()

	var interval time.Duration // between two requests' due times; 0 means no pacing
	if cfg.rate > 0 {
		interval = time.Duration(float64(cfg.batch) / cfg.rate * float64(time.Second))
	}
	var next atomic.Int64 // the next request slot
	var wg sync.WaitGroup
	for w := 0; w < cfg.workers; w++ {
		exp := newExporter(cfg, cc, w, st.start)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := next.Add(1) - 1
				due := st.start
				if interval > 0 {
					due = st.start.Add(time.Duration(k) * interval)
				}
				if !due.Before(stopAt) || ctx.Err() != nil {
					return
				}
				if d := time.Until(due); d > 0 {
					select {
					case <-time.After(d):
					case <-ctx.Done():
						return
					}
				}
				// A worker that fell behind the schedule stops on time too.
				if !time.Now().Before(stopAt) {
					return
				}
				send(ctx, cfg, exp, st)
			}
		}()
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var tick <-chan time.Time
	if cfg.report > 0 {
		t := time.NewTicker(cfg.report)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-done:
			return st, nil
		case <-tick:
			log.Info("progress", "elapsed", time.Since(st.start).Round(time.Second),
				"acked", st.acked.Load(), "errors", st.failed.Load())
		}
	}
}

// exporter builds a worker's next request, stamped now, and returns the call that exports it,
// which answers with the spans or points the receiver rejected in a partial success. A
// worker's exporter is used by that worker only.
type exporter func(now time.Time) (export func(ctx context.Context) (rejected int64, err error))

// newExporter returns worker w's exporter for cfg.signal; start is weirload's start, the start
// time of every cumulative metric series.
func newExporter(cfg config, cc *grpc.ClientConn, w int, start time.Time) exporter {
	if cfg.signal == "metrics" {
		client := pmetricotlp.NewGRPCClient(cc)
		set := newSeriesSet(cfg.batch, w, start)
		return func(now time.Time) func(context.Context) (int64, error) {
			req := pmetricotlp.NewExportRequestFromMetrics(set.build(cfg.service, now))
			return func(ctx context.Context) (int64, error) {
				resp, err := client.Export(ctx, req)
				if err != nil {
					return 0, err
				}
				return resp.PartialSuccess().RejectedDataPoints(), nil
			}
		}
	}
	client := ptraceotlp.NewGRPCClient(cc)
	return func(now time.Time) func(context.Context) (int64, error) {
		req := ptraceotlp.NewExportRequestFromTraces(buildTraces(cfg.batch, cfg.service, cfg.shape, now))
		return func(ctx context.Context) (int64, error) {
			resp, err := client.Export(ctx, req)
			if err != nil {
				return 0, err
			}
			return resp.PartialSuccess().RejectedSpans(), nil
		}
	}
}

// send builds one request and exports it, counting the outcome.
func send(ctx context.Context, cfg config, exp exporter, st *stats) {
	export := exp(time.Now())
	rctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	t0 := time.Now()
	rej, err := export(rctx)
	now := time.Now()
	st.requests.Add(1)
	st.sent.Add(int64(cfg.batch))
	st.latency.Add(int64(now.Sub(t0)))
	for {
		last := st.end.Load()
		if now.UnixNano() <= last || st.end.CompareAndSwap(last, now.UnixNano()) {
			break
		}
	}
	if err != nil {
		st.fail(err)
		return
	}
	st.rejected.Add(rej)
	st.acked.Add(int64(cfg.batch) - rej)
}

// buildTraces makes n spans starting at now: traces of sh.spans spans, a SERVER root and
// its CLIENT children, each trace with a fresh random ID. With the default shape (2 spans, no
// errors, no slow traces) they are telemetrygen's pairs.
func buildTraces(n int, service string, sh shape, now time.Time) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("telemetrygen")
	spans := ss.Spans()
	spans.EnsureCapacity(n)
	start := pcommon.NewTimestampFromTime(now)
	end := pcommon.NewTimestampFromTime(now.Add(spanDuration))
	rootEnd := end
	var tid pcommon.TraceID
	var parent pcommon.SpanID
	var withErr bool
	for i := 0; i < n; i++ {
		sp := spans.AppendEmpty()
		var sid pcommon.SpanID
		binary.LittleEndian.PutUint64(sid[:], rand.Uint64()|1)
		pos := i % sh.spans
		child := pos != 0
		if !child {
			binary.LittleEndian.PutUint64(tid[:8], rand.Uint64()|1)
			binary.LittleEndian.PutUint64(tid[8:], rand.Uint64())
			parent = sid
			rootEnd = end
			if sh.slow > 0 && rand.Float64() < sh.slow {
				rootEnd = pcommon.NewTimestampFromTime(now.Add(sh.slowDur))
			}
			withErr = sh.errShare > 0 && rand.Float64() < sh.errShare
		}
		sp.SetTraceID(tid)
		sp.SetSpanID(sid)
		sp.SetStartTimestamp(start)
		sp.SetEndTimestamp(end)
		a := sp.Attributes()
		a.EnsureCapacity(2)
		a.PutStr("net.sock.peer.addr", "1.2.3.4")
		if child {
			sp.SetParentSpanID(parent)
			sp.SetName("okey-dokey")
			sp.SetKind(ptrace.SpanKindClient)
			a.PutStr("peer.service", "telemetrygen-server")
		} else {
			sp.SetEndTimestamp(rootEnd)
			sp.SetName("lets-go")
			sp.SetKind(ptrace.SpanKindServer)
			a.PutStr("peer.service", "telemetrygen-client")
		}
		if withErr && (pos == sh.spans-1 || i == n-1) {
			sp.Status().SetCode(ptrace.StatusCodeError)
			withErr = false
		}
	}
	return td
}
