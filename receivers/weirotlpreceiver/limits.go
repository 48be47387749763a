package weirotlpreceiver

import (
	"context"
	"fmt"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// limits refuses requests early rather than let memory grow: a bound on the request bodies
// in flight, and the live heap against memory_limit_mib.
type limits struct {
	maxInflight int64
	inflight    atomic.Int64
	// active is the requests in the handlers (enter, exit): one alone may pass maxInflight.
	active atomic.Int64
	// heapLimit is the live heap (after the last GC) above which requests are refused: the
	// rest of memory_limit_mib is the garbage between collections.
	heapLimit int64
	heapFull  atomic.Bool
	stopCh    chan struct{}
	done      chan struct{}
}

func newLimits(cfg *Config) *limits {
	l := &limits{maxInflight: int64(cfg.MaxInflightMiB) << 20}
	if cfg.MemoryLimitMiB > 0 {
		l.heapLimit = int64(cfg.MemoryLimitMiB) << 20 * 7 / 10
	}
	return l
}

// acquire takes n bytes of the in-flight bound; release gives them back. A request alone
// always passes, however many times it takes a share (an HTTP body as it arrives, a snappy
// body's decoding, JSON's): a bound below the largest request would refuse it forever.
func (l *limits) acquire(n int64, tel *telemetry) error {
	if err := l.heapErr(tel); err != nil {
		return err
	}
	if v := l.inflight.Add(n); v > l.maxInflight && v != n && l.active.Load() > 1 {
		l.inflight.Add(-n)
		tel.refused("inflight")
		return fmt.Errorf("%w: %d MiB of requests in flight; retry later", errOverloaded, l.maxInflight>>20)
	}
	return nil
}

func (l *limits) release(n int64) { l.inflight.Add(-n) }

// enter and exit bracket a request in its handler, for acquire's request alone.
func (l *limits) enter() { l.active.Add(1) }
func (l *limits) exit()  { l.active.Add(-1) }

// heapErr refuses a request while the live heap is above its limit.
func (l *limits) heapErr(tel *telemetry) error {
	if l.heapFull.Load() {
		tel.refused("memory")
		return fmt.Errorf("%w: the heap is at memory_limit_mib; retry later", errOverloaded)
	}
	return nil
}

// admit refuses a new gRPC request before its message is read when the heap is at its limit
// or request bodies already fill the in-flight bound: grpc-go reads a whole message (up to
// max_recv_msg_size_mib) before the handler runs, so acquire alone would hold it in memory
// first, only to refuse it.
func (l *limits) admit(tel *telemetry) error {
	if err := l.heapErr(tel); err != nil {
		return err
	}
	if l.inflight.Load() >= l.maxInflight {
		tel.refused("inflight")
		return fmt.Errorf("%w: %d MiB of requests in flight, refused before reading; retry later", errOverloaded, l.maxInflight>>20)
	}
	return nil
}

// start watches the live heap every 50 ms.
func (l *limits) start() {
	l.stopCh, l.done = make(chan struct{}), make(chan struct{})
	if l.heapLimit == 0 {
		close(l.done)
		return
	}
	go func() {
		defer close(l.done)
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-l.stopCh:
				return
			case <-t.C:
				metrics.Read(sample)
				if sample[0].Value.Kind() == metrics.KindUint64 {
					l.heapFull.Store(int64(sample[0].Value.Uint64()) > l.heapLimit)
				}
			}
		}
	}()
}

func (l *limits) stop() {
	if l.stopCh != nil {
		close(l.stopCh)
		<-l.done
		l.stopCh = nil
	}
}

// telemetry is the receiver's own metrics beyond the collector's receiver metrics.
type telemetry struct {
	refusals metric.Int64Counter
	invalid  metric.Int64Counter
	attrs    map[string]metric.AddOption
}

func newTelemetry(set component.TelemetrySettings) (*telemetry, error) {
	m := set.MeterProvider.Meter("github.com/weirhq/weir/receivers/weirotlpreceiver")
	t := &telemetry{attrs: map[string]metric.AddOption{}}
	var err error
	if t.refusals, err = m.Int64Counter("weir_receiver_refused_requests", metric.WithUnit("{request}"),
		metric.WithDescription("Requests refused for now (the sender retries), by reason: memory, inflight, journal_full, journal_unwritable, not_ready.")); err != nil {
		return nil, err
	}
	if t.invalid, err = m.Int64Counter("weir_invalid_spans", metric.WithUnit("{span}"),
		metric.WithDescription("Spans dropped for an all-zero or malformed trace or span ID.")); err != nil {
		return nil, err
	}
	for _, r := range []string{"memory", "inflight", "journal_full", "journal_unwritable", "journal_error", "not_ready"} {
		t.attrs[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r)))
	}
	return t, nil
}

func (t *telemetry) refused(reason string) {
	t.refusals.Add(context.Background(), 1, t.attrs[reason])
}
