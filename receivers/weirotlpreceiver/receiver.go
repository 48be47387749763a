package weirotlpreceiver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/weirhq/weir/internal/ingest"
	"github.com/weirhq/weir/internal/journal"
)

// otlpReceiver is one weir_otlp receiver: its servers and its engine, shared by its traces and
// metrics pipelines.
type otlpReceiver struct {
	cfg    *Config
	set    receiver.Settings
	logger *zap.Logger
	id     component.ID

	// The pipelines' next consumers: weir_otlp hands them nothing (what it receives goes to
	// the journal, and from there to ClickHouse through the clickhouse exporter); a pipeline
	// still needs an exporter, which is that one.
	nextTraces  consumer.Traces
	nextMetrics consumer.Metrics

	mu       sync.Mutex
	refs     int
	host     component.Host
	engine   *ingest.Engine
	grpc     *grpc.Server
	http     *http.Server
	wg       sync.WaitGroup
	handlers sync.WaitGroup // HTTP handlers running: stop waits for them before the engine goes
	obsTr    *receiverhelper.ObsReport
	obsHTTP  *receiverhelper.ObsReport
	limits   *limits
	tel      *telemetry
}

func newReceiver(cfg *Config, set receiver.Settings) *otlpReceiver {
	r := &otlpReceiver{cfg: cfg, set: set, logger: set.Logger, id: set.ID}
	return r
}

func (r *otlpReceiver) Start(ctx context.Context, host component.Host) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refs++
	if r.refs > 1 {
		return nil
	}
	if err := r.start(ctx, host); err != nil {
		r.refs--
		return errors.Join(err, r.stop(context.Background()))
	}
	return nil
}

func (r *otlpReceiver) start(ctx context.Context, host component.Host) error {
	r.host = host
	store, err := ingest.StoreFrom(host, r.cfg.Journal)
	if err != nil {
		return fmt.Errorf("weir_otlp: %w", err)
	}
	if r.tel, err = newTelemetry(r.set.TelemetrySettings); err != nil {
		return err
	}
	if r.obsTr, err = receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID: r.id, Transport: "grpc", ReceiverCreateSettings: r.set}); err != nil {
		return err
	}
	if r.obsHTTP, err = receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID: r.id, Transport: "http", ReceiverCreateSettings: r.set}); err != nil {
		return err
	}
	r.limits = newLimits(r.cfg)
	if r.cfg.MemoryLimitMiB > 0 && os.Getenv("GOMEMLIMIT") == "" {
		// The runtime's soft limit makes the collector work harder near the limit; refusals
		// (limits.memoryFull) keep the live heap below it.
		debug.SetMemoryLimit(int64(r.cfg.MemoryLimitMiB) << 20 * 9 / 10)
	}
	ecfg := ingest.EngineConfig{Epoch: r.cfg.Epoch, Compression: compressionByte(r.cfg.Compression), Metrics: &r.cfg.Metrics}
	ecfg.RED = r.cfg.RED.Get()
	ecfg.Sampling = r.cfg.TailSampling.Get()
	if r.engine, err = ingest.NewEngine(ecfg, store, r.set.TelemetrySettings); err != nil {
		return err
	}
	if err := r.engine.Start(ctx); err != nil {
		return err
	}
	r.limits.start()
	if g := r.cfg.Protocols.GRPC.Get(); g != nil {
		if err := r.startGRPC(ctx, host, g); err != nil {
			return err
		}
	}
	if h := r.cfg.Protocols.HTTP.Get(); h != nil {
		if err := r.startHTTP(ctx, host, h); err != nil {
			return err
		}
	}
	return nil
}

func (r *otlpReceiver) serve(name string, ln net.Listener, serve func(net.Listener) error) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) && !errors.Is(err, http.ErrServerClosed) {
			componentstatus.ReportStatus(r.host, componentstatus.NewFatalErrorEvent(err))
			r.logger.Error("weir_otlp "+name+" server failed", zap.Error(err))
		}
	}()
}

func (r *otlpReceiver) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refs > 0 {
		r.refs--
		if r.refs > 0 {
			return nil
		}
	}
	receiversMu.Lock()
	if receivers[r.cfg] == r {
		delete(receivers, r.cfg)
	}
	receiversMu.Unlock()
	return r.stop(ctx)
}

// stop closes the servers (requests in flight finish), then seals what the engine holds.
func (r *otlpReceiver) stop(ctx context.Context) error {
	var errs []error
	if r.http != nil {
		if err := r.http.Shutdown(ctx); err != nil {
			// The deadline came with requests still in flight: close their connections, so
			// that handlers reading a body return, and wait for them before the engine goes.
			errs = append(errs, fmt.Errorf("weir_otlp http: requests still in flight at the shutdown deadline were cut off: %w", err))
			_ = r.http.Close()
		}
		r.handlers.Wait()
		r.http = nil
	}
	if r.grpc != nil {
		// GracefulStop waits for every stream, a client stalled mid-message too, whatever
		// ctx says: at ctx's end the rest are cut off (their senders retry; nothing of them
		// was journaled or acknowledged).
		done := make(chan struct{})
		go func() {
			r.grpc.GracefulStop()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			r.grpc.Stop()
			<-done
			errs = append(errs, fmt.Errorf("weir_otlp grpc: requests still in flight at the shutdown deadline were cut off: %w", ctx.Err()))
		}
		r.grpc = nil
	}
	r.wg.Wait()
	if r.limits != nil {
		r.limits.stop()
	}
	if r.engine != nil {
		errs = append(errs, r.engine.Shutdown(ctx))
		r.engine = nil
	}
	return errors.Join(errs...)
}

func compressionByte(c string) byte {
	switch c {
	case "none":
		return ingest.CompressNone
	case "zstd":
		return ingest.CompressZSTD
	}
	return ingest.CompressLZ4
}

// Errors of a request, as the servers map them to statuses.
var (
	// errInvalid wraps a request that does not decode: the sender must not retry it.
	errInvalid = errors.New("invalid request")
	// errOverloaded wraps a refusal for now: the sender retries later.
	errOverloaded = errors.New("weir is at its limit")
)

// outcome is what handling a request came to.
type outcome struct {
	items    int // spans or points in the request
	rejected int // of which dropped (spans without usable IDs)
	err      error
}

// traces handles one request of spans: checked, journaled, processed (the engine reads it
// once for all three when it can).
func (r *otlpReceiver) traces(ctx context.Context, body []byte) outcome {
	st, err := r.engine.TakeTraces(ctx, body)
	o := outcome{items: st.Spans, rejected: st.Invalid, err: r.engineErr(err)}
	if o.err == nil && st.Invalid > 0 {
		r.tel.invalid.Add(ctx, int64(st.Invalid))
	}
	return o
}

// metrics handles one request of metric points: checked, journaled, processed (the engine
// reads it once for all three).
func (r *otlpReceiver) metrics(ctx context.Context, body []byte) outcome {
	st, err := r.engine.TakeMetrics(ctx, body)
	return outcome{items: st.Points, err: r.engineErr(err)}
}

// engineErr says why the engine refused a request, in the terms a sender needs.
func (r *otlpReceiver) engineErr(err error) error {
	var me *ingest.MalformedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &me):
		return fmt.Errorf("%w: %w", errInvalid, me.Err)
	case errors.Is(err, journal.ErrFull):
		r.tel.refused("journal_full")
		return fmt.Errorf("%w: the journal is full (ClickHouse is behind or away): %w", errOverloaded, err)
	case errors.Is(err, ingest.ErrStalled):
		r.tel.refused("journal_unwritable")
		return fmt.Errorf("%w: %w", errOverloaded, err)
	case errors.Is(err, ingest.ErrNotReady):
		r.tel.refused("not_ready")
		return fmt.Errorf("%w: %w", errOverloaded, err)
	}
	r.tel.refused("journal_error")
	return fmt.Errorf("%w: the journal could not take the request: %w", errOverloaded, err)
}
