package redconnector

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/weirhq/weir/internal/red"
)

// redConnector is weir_red's collector face: spans in as pdata, counted by red.Aggregator, and
// every flush_interval the accumulated windows out as delta exponential histograms.
type redConnector struct {
	cfg    *Config
	agg    *red.Aggregator
	next   consumer.Metrics
	logger *zap.Logger
	now    func() time.Time

	stop chan struct{}
	done chan struct{}
}

func newConnector(cfg *Config, set component.TelemetrySettings, next consumer.Metrics) (*redConnector, error) {
	agg, err := red.New(cfg, set)
	if err != nil {
		return nil, err
	}
	return &redConnector{cfg: cfg, agg: agg, next: next, logger: set.Logger, now: time.Now}, nil
}

func (c *redConnector) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

func (c *redConnector) Start(context.Context, component.Host) error {
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	go c.loop()
	c.logger.Info("weir_red started", zap.Duration("window", c.cfg.Window),
		zap.Strings("dimensions", c.cfg.Dimensions), zap.Bool("service_graph", c.cfg.ServiceGraph.Enabled))
	return nil
}

// Shutdown emits everything accumulated, including half edges, so nothing counted is lost.
func (c *redConnector) Shutdown(ctx context.Context) error {
	if c.stop == nil {
		return nil
	}
	close(c.stop)
	<-c.done
	return c.flush(ctx, true)
}

func (c *redConnector) loop() {
	defer close(c.done)
	t := time.NewTicker(c.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			if err := c.flush(context.Background(), false); err != nil {
				c.logger.Warn("emitting RED metrics failed", zap.Error(err))
			}
		}
	}
}

// ConsumeTraces counts every span of td. It does not change td.
func (c *redConnector) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	c.agg.ConsumePdata(td, c.now())
	return nil
}

func (c *redConnector) flush(ctx context.Context, final bool) error {
	out := red.NewMetricsOutput(int64(c.cfg.Window))
	if c.agg.Flush(c.now(), final, out) == 0 {
		return nil
	}
	return c.next.ConsumeMetrics(ctx, out.Metrics())
}
