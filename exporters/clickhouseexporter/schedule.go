package clickhouseexporter

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/weirhq/weir/rollup"
)

// scheduler runs the rollup job and retention on their intervals until stopped. Runs are
// sequential, so a slow rollup delays the next instead of overlapping it.
type scheduler struct {
	stop chan struct{}
	done chan struct{}
}

func (e *chExporter) startScheduler() {
	r := e.cfg.Rollup
	if r.Interval <= 0 && r.RetentionInterval <= 0 {
		return
	}
	s := &scheduler{stop: make(chan struct{}), done: make(chan struct{})}
	e.sched = s
	policy := rollup.DefaultRetention()
	for t, d := range r.Retention {
		policy[t] = d
	}
	// The job's own slog lines are left out; the exporter logs each run's outcome with zap.
	job := &rollup.Job{Conn: e.conn, Database: e.cfg.Database, Grace: r.Grace, Now: time.Now}
	go func() {
		defer close(s.done)
		// First runs one interval after start: start-up (migrations, queue replay) goes first.
		start := time.Now()
		nextRollup, nextRetention := start.Add(r.Interval), start.Add(r.RetentionInterval)
		step := 10 * time.Second
		for _, iv := range []time.Duration{r.Interval, r.RetentionInterval} {
			if iv > 0 && iv/2 < step {
				step = iv / 2
			}
		}
		tick := time.NewTicker(step)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case now := <-tick.C:
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
				if r.Interval > 0 && !now.Before(nextRollup) && e.ensureSchema(ctx) == nil {
					rep, err := job.RunRecent(ctx, r.Lookback)
					if err != nil {
						e.logger.Warn("rollup failed; retried at the next interval", zap.Error(err))
					} else {
						e.logger.Debug("rollup done", zap.Int("partitions", len(rep.Partitions)), zap.Uint64("rows", rep.Rows()))
					}
					nextRollup = now.Add(r.Interval)
				}
				if r.RetentionInterval > 0 && !now.Before(nextRetention) && e.ensureSchema(ctx) == nil {
					dropped, err := rollup.ApplyRetention(ctx, e.conn, e.cfg.Database, policy, now)
					if err != nil {
						e.logger.Warn("retention failed; retried at the next interval", zap.Error(err))
					}
					for _, d := range dropped {
						e.logger.Info("retention dropped a partition", zap.String("table", d.Table),
							zap.String("partition", d.Partition), zap.Uint64("rows", d.Rows))
					}
					nextRetention = now.Add(r.RetentionInterval)
				}
				cancel()
			}
		}
	}()
}

func (e *chExporter) stopScheduler() {
	if e.sched == nil {
		return
	}
	close(e.sched.stop)
	<-e.sched.done
	e.sched = nil
}
