package rollupextension

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"

	"github.com/weirhq/weir/rollup"
)

// scheduler runs the rollup job and retention on their intervals until shut down.
type scheduler struct {
	cfg    *Config
	logger *zap.Logger
	now    func() time.Time

	conn   driver.Conn
	cancel context.CancelFunc
	done   chan struct{}
}

func newScheduler(cfg *Config, set component.TelemetrySettings) *scheduler {
	return &scheduler{cfg: cfg, logger: set.Logger, now: time.Now}
}

func (s *scheduler) Start(ctx context.Context, _ component.Host) error {
	conn, err := s.cfg.ClickHouse.Open(ctx, clickhouse.CompressionLZ4, 2)
	if err != nil {
		return err
	}
	s.conn = conn
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go s.loop(runCtx)
	s.logger.Info("rollup schedule started", zap.Duration("interval", s.cfg.Interval),
		zap.Duration("retention_interval", s.cfg.RetentionInterval), zap.String("database", s.cfg.ClickHouse.Database),
		zap.String("cluster", s.cfg.ClickHouse.Cluster))
	return nil
}

func (s *scheduler) Shutdown(context.Context) error {
	if s.cancel != nil {
		s.cancel()
		<-s.done
		s.cancel = nil
	}
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// tickEvery is how often the loop looks at the clock: at most 10 s, and at most half the
// shorter interval, so a run is never more than that late.
func (s *scheduler) tickEvery() time.Duration {
	step := 10 * time.Second
	for _, iv := range []time.Duration{s.cfg.Interval, s.cfg.RetentionInterval} {
		if iv > 0 && iv/2 < step {
			step = iv / 2
		}
	}
	return step
}

func (s *scheduler) loop(ctx context.Context) {
	defer close(s.done)
	// The first runs come one interval after start: start-up (migrations, queue replay) first.
	start := s.now()
	nextRollup, nextRetention := start.Add(s.cfg.Interval), start.Add(s.cfg.RetentionInterval)
	tick := time.NewTicker(s.tickEvery())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := s.now()
		if s.cfg.Interval > 0 && !now.Before(nextRollup) {
			s.runRollup(ctx)
			nextRollup = now.Add(s.cfg.Interval)
		}
		if s.cfg.RetentionInterval > 0 && !now.Before(nextRetention) {
			s.runRetention(ctx, now)
			nextRetention = now.Add(s.cfg.RetentionInterval)
		}
	}
}

// errNotReady is a database that is not at this build's schema version (yet): the exporter
// has not created or migrated it, or a newer weir has.
var errNotReady = errors.New("schema not ready")

// ready checks that the database is at the schema version this build reads and writes.
func (s *scheduler) ready(ctx context.Context) error {
	v, err := rollup.CurrentVersion(ctx, s.conn, s.cfg.ClickHouse.Database)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if want := rollup.LatestVersion(); v != want {
		return fmt.Errorf("database %s is at schema version %d, this weir rolls up version %d: %w",
			s.cfg.ClickHouse.Database, v, want, errNotReady)
	}
	return nil
}

func (s *scheduler) runRollup(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		s.logger.Info("rollup skipped; retried at the next interval", zap.Error(err))
		return
	}
	job := &rollup.Job{Conn: s.conn, Database: s.cfg.ClickHouse.Database, Grace: s.cfg.Grace, Now: s.now,
		Cluster: s.cfg.ClickHouse.RollupCluster()}
	rep, err := job.RunRecent(ctx, s.cfg.Lookback)
	if err != nil {
		s.logger.Warn("rollup failed; retried at the next interval", zap.Error(err))
		return
	}
	s.logger.Debug("rollup done", zap.Int("partitions", len(rep.Partitions)), zap.Uint64("rows", rep.Rows()))
}

func (s *scheduler) runRetention(ctx context.Context, now time.Time) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		s.logger.Info("retention skipped; retried at the next interval", zap.Error(err))
		return
	}
	var dropped []rollup.DroppedPartition
	var err error
	if c := s.cfg.ClickHouse.RollupCluster(); c != nil {
		dropped, err = rollup.ApplyRetentionCluster(ctx, s.conn, *c, s.cfg.ClickHouse.Database, s.cfg.policy(), now)
	} else {
		dropped, err = rollup.ApplyRetention(ctx, s.conn, s.cfg.ClickHouse.Database, s.cfg.policy(), now)
	}
	if err != nil {
		s.logger.Warn("retention failed; retried at the next interval", zap.Error(err))
	}
	for _, d := range dropped {
		s.logger.Info("retention dropped a partition", zap.String("table", d.Table),
			zap.String("partition", d.Partition), zap.Uint64("rows", d.Rows), zap.Int("shard", d.Shard))
	}
}
