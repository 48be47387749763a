package clickhouseexporter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.uber.org/zap"

	"github.com/weirhq/weir/internal/chinsert"
	"github.com/weirhq/weir/internal/ingest"
)

// chExporter is one clickhouse exporter (one component ID), shared by its traces and metrics
// pipelines: it owns the journal's sender, of which there must be one per journal.
type chExporter struct {
	cfg    *Config
	set    component.TelemetrySettings
	logger *zap.Logger
	tel    *telemetry
	id     component.ID

	mu     sync.Mutex
	refs   int
	store  *ingest.Store
	client *chinsert.Client
	sender *ingest.Sender
	conn   driver.Conn
	stop   chan struct{}
	done   chan struct{}

	blocks blockPool
}

// exporters are the live exporters by configuration: the traces and the metrics exporter of
// one component share its *Config, and are one chExporter (several collectors in one process,
// as in tests, each have their own).
var (
	exportersMu sync.Mutex
	exporters   = map[*Config]*chExporter{}
)

func acquire(set exporter.Settings, cfg *Config) (*chExporter, error) {
	exportersMu.Lock()
	defer exportersMu.Unlock()
	if e, ok := exporters[cfg]; ok {
		return e, nil
	}
	tel, err := newTelemetry(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	e := &chExporter{cfg: cfg, set: set.TelemetrySettings, logger: set.Logger, tel: tel, id: set.ID}
	exporters[cfg] = e
	return e, nil
}

func (e *chExporter) start(ctx context.Context, host component.Host) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.refs++
	if e.refs > 1 {
		return nil // the other pipeline started it
	}
	err := e.startLocked(ctx, host)
	if err != nil {
		e.refs--
		e.closeLocked()
	}
	return err
}

func (e *chExporter) startLocked(ctx context.Context, host component.Host) error {
	var err error
	if e.store, err = ingest.StoreFrom(host, e.cfg.Journal); err != nil {
		return fmt.Errorf("clickhouse exporter: %w", err)
	}
	e.blocks.compression = compressionByte(e.cfg.Compression)
	tlsCfg, err := e.cfg.ClickHouse.TLS.LoadTLSConfig(ctx)
	if err != nil {
		return fmt.Errorf("clickhouse exporter: tls: %w", err)
	}
	if e.client, err = chinsert.New(chinsert.Options{
		Endpoints: e.cfg.httpEndpoints(), TLS: tlsCfg,
		Username: e.cfg.ClickHouse.Username, Password: string(e.cfg.ClickHouse.Password),
		DialTimeout: e.cfg.ClickHouse.DialTimeout, RequestTimeout: e.cfg.Timeout,
		MaxConns: e.cfg.Workers + 2,
	}); err != nil {
		return fmt.Errorf("clickhouse exporter: %w", err)
	}
	if e.conn, err = e.cfg.ClickHouse.Open(ctx, clickhouse.CompressionLZ4, 2); err != nil {
		return fmt.Errorf("clickhouse exporter: %w", err)
	}
	if e.sender, err = ingest.NewSender(e.store, e.client, ingest.SenderConfig{
		Database: e.cfg.ClickHouse.Database, Settings: e.cfg.settings(), Workers: e.cfg.Workers,
		RetryInitial: e.cfg.Retry.InitialInterval, RetryMax: e.cfg.Retry.MaxInterval,
		MinBatchRows: e.cfg.Batch.MinRows, MaxBatchWait: e.cfg.Batch.MaxWait,
		RejectMaxBytes: rejectBytes(e.cfg.RejectedMaxSizeMiB), Check: insertIDTables,
		// On a cluster a block may be in on one shard and not the other; sending it again is
		// safe there (replicated tables drop a repeat of a recent block).
		Replicated: e.cfg.ClickHouse.Cluster != "",
	}, e.set); err != nil {
		return err
	}
	e.logger.Info("clickhouse exporter starting", zap.String("endpoint", e.cfg.ClickHouse.Endpoint),
		zap.Strings("http_endpoints", e.cfg.httpEndpoints()), zap.String("database", e.cfg.ClickHouse.Database),
		zap.String("journal", e.store.Dir()))
	e.stop, e.done = make(chan struct{}), make(chan struct{})
	err = e.prepare(ctx)
	switch {
	case err == nil:
		e.sender.Start()
		close(e.done)
	case fatal(err):
		close(e.done)
		return err
	default:
		// A server away at start is not fatal: data waits in the journal, and the sender starts
		// once the schema is there.
		e.logger.Warn("ClickHouse not ready at start; data waits in the journal, retrying", zap.Error(err))
		go e.prepareLoop()
	}
	return nil
}

func rejectBytes(mib int) int64 {
	if mib == 0 {
		return -1
	}
	return int64(mib) << 20
}

// prepareLoop retries prepare until it succeeds or the exporter stops.
func (e *chExporter) prepareLoop() {
	defer close(e.done)
	wait := time.Second
	for {
		select {
		case <-e.stop:
			return
		case <-time.After(wait):
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		err := e.prepare(ctx)
		cancel()
		if err == nil {
			e.logger.Info("ClickHouse reached; sending the journal's blocks")
			e.sender.Start()
			return
		}
		if fatal(err) {
			e.logger.Error("ClickHouse refuses weir; nothing will be sent until the configuration is fixed", zap.Error(err))
		} else {
			e.logger.Debug("ClickHouse still not ready", zap.Error(err))
		}
		wait = min(2*wait, 30*time.Second)
	}
}

func (e *chExporter) shutdown(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.refs > 0 {
		e.refs--
		if e.refs > 0 {
			return nil
		}
	}
	exportersMu.Lock()
	if exporters[e.cfg] == e {
		delete(exporters, e.cfg)
	}
	exportersMu.Unlock()
	return e.closeLocked()
}

func (e *chExporter) closeLocked() error {
	var errs []error
	if e.stop != nil {
		close(e.stop)
		<-e.done
		e.stop = nil
	}
	if e.sender != nil {
		dctx, cancel := context.WithTimeout(context.Background(), e.cfg.DrainTimeout)
		errs = append(errs, e.sender.Drain(dctx))
		cancel()
		errs = append(errs, e.sender.Shutdown(context.Background()))
		e.sender = nil
	}
	if e.client != nil {
		errs = append(errs, e.client.Close())
		e.client = nil
	}
	if e.conn != nil {
		errs = append(errs, e.conn.Close())
		e.conn = nil
	}
	return errors.Join(errs...)
}
