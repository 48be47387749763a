package journalextension

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"

	"github.com/weirhq/weir/internal/ingest"
)

// journalExt opens the store at Start and closes it at Shutdown. The collector starts
// extensions before the components that use them and stops them after.
type journalExt struct {
	cfg    *Config
	logger *zap.Logger
	store  *ingest.Store
}

var _ ingest.StoreProvider = (*journalExt)(nil)

func (j *journalExt) Start(context.Context, component.Host) error {
	policy, err := j.cfg.policy()
	if err != nil {
		return err
	}
	const mib = 1 << 20
	s, err := ingest.OpenStore(ingest.StoreOptions{
		Dir:            j.cfg.Directory,
		IngestMaxBytes: j.cfg.IngestMaxSizeMiB * mib,
		BlocksMaxBytes: j.cfg.MaxSizeMiB * mib,
		SegmentBytes:   j.cfg.SegmentSizeMiB * mib,
		Sync:           policy,
		SyncEvery:      j.cfg.SyncInterval,
		OnSyncError: func(log string, err error) {
			j.logger.Error("journal: a background fdatasync failed; what was acknowledged since the last one "+
				"survives a process kill but may not survive a power loss", zap.String("log", log), zap.Error(err))
		},
	})
	if err != nil {
		return err
	}
	j.store = s
	for name, l := range map[string]interface {
		Size() int64
	}{"ingest": s.Ingest, "blocks": s.Blocks} {
		j.logger.Info("journal opened", zap.String("log", name), zap.String("directory", j.cfg.Directory), zap.Int64("bytes", l.Size()))
	}
	return nil
}

func (j *journalExt) Shutdown(context.Context) error {
	if j.store == nil {
		return nil
	}
	err := j.store.Close()
	j.store = nil
	return err
}

// Store is the opened store; nil before Start.
func (j *journalExt) Store() *ingest.Store { return j.store }
