package clickhouseexporter

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ClickHouse/ch-go/compress"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/weirhq/weir/internal/chblock"
	"github.com/weirhq/weir/internal/ingest"
	"github.com/weirhq/weir/internal/model"
	"github.com/weirhq/weir/rollup"
)

// The pdata path: what other collector components hand this exporter (weir_tail_sampling,
// weir_red, the collector's own receivers) becomes blocks in the journal, committed as
// written; the sender inserts them with the rest. A call returns once its data is in the
// journal, so the pipeline's "accepted" means what weir_otlp's does.

// maxBlockRows splits a large batch into several blocks, each an all-or-nothing INSERT.
const maxBlockRows = 100_000

var errNotReady = errors.New("ClickHouse has not been reached since the journal was created; data is refused until it is")

// blockPool is the blocks the pdata path fills, reused from call to call. Not sync.Pool: it
// hands its items to the garbage collector between batches, and regrowing a block's columns
// costs more than filling them.
type blockPool struct {
	mu          sync.Mutex
	compression byte
	spans       []*chblock.SpanBlock
	metrics     []*chblock.MetricSet
	info        ingest.ServerInfo
}

// pushTraces queues the spans of td with usable IDs, and their trace_index rows.
func (e *chExporter) pushTraces(ctx context.Context, td ptrace.Traces) error {
	info, ok := e.store.ServerInfo()
	if !ok {
		return errNotReady
	}
	b := e.blocks.getSpans(info)
	defer e.blocks.putSpans(b)
	w := e.writer()
	invalid := 0
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		svc := chblock.ServiceNamePdata(rs.Resource().Attributes())
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			ss := rs.ScopeSpans().At(j)
			for k := 0; k < ss.Spans().Len(); k++ {
				if !b.AppendPdata(rs, ss, ss.Spans().At(k), svc) {
					invalid++
					continue
				}
				if b.Rows() >= maxBlockRows {
					if err := w.spans(b); err != nil {
						return err
					}
					b.Reset()
				}
			}
		}
	}
	if err := w.spans(b); err != nil {
		return err
	}
	if invalid > 0 {
		e.tel.invalidSpans.Add(ctx, int64(invalid))
	}
	return nil
}

// pushMetrics queues md's points, and the weir_red connector's RED and edge points.
func (e *chExporter) pushMetrics(_ context.Context, md pmetric.Metrics) error {
	info, ok := e.store.ServerInfo()
	if !ok {
		return errNotReady
	}
	w := e.writer()
	red, hasRED, rest := splitRED(md)
	if hasRED {
		rb, eb := chblock.NewREDBlock(info.LowCardinality), chblock.NewEdgeBlock(info.LowCardinality)
		addRED(red, rb, eb)
		if err := w.block(rb, rollup.TableRED1m); err != nil {
			return err
		}
		if err := w.block(eb, rollup.TableEdges1m); err != nil {
			return err
		}
	}
	if rest.DataPointCount() == 0 {
		return nil
	}
	// One decoder for both paths: the points go through the protobuf the receiver would have
	// got, so their rows are those of weir_otlp, byte for byte.
	req, err := pmetricotlp.NewExportRequestFromMetrics(rest).MarshalProto()
	if err != nil {
		return consumererror.NewPermanent(fmt.Errorf("encode metrics: %w", err))
	}
	s := e.blocks.getMetrics(info)
	defer e.blocks.putMetrics(s)
	if _, err := s.AppendRequest(req, nil, 0); err != nil {
		return consumererror.NewPermanent(err)
	}
	for _, b := range s.Blocks[1:] {
		if err := w.block(b, b.Table()); err != nil {
			return err
		}
	}
	return w.block(s.Series, rollup.TableSeries1m)
}

// splitRED separates the weir_red connector's scopes (when md has any) from the other metrics.
func splitRED(md pmetric.Metrics) (red pmetric.Metrics, hasRED bool, rest pmetric.Metrics) {
	has := false
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len() && !has; i++ {
		for j := 0; j < rms.At(i).ScopeMetrics().Len(); j++ {
			if rms.At(i).ScopeMetrics().At(j).Scope().Name() == model.REDScope {
				has = true
				break
			}
		}
	}
	if !has {
		return pmetric.Metrics{}, false, md
	}
	red, rest = pmetric.NewMetrics(), pmetric.NewMetrics()
	md.CopyTo(red)
	md.CopyTo(rest)
	keep := func(m pmetric.Metrics, isRED bool) {
		m.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
			rm.ScopeMetrics().RemoveIf(func(sm pmetric.ScopeMetrics) bool { return (sm.Scope().Name() == model.REDScope) != isRED })
			return rm.ScopeMetrics().Len() == 0
		})
	}
	keep(red, true)
	keep(rest, false)
	return red, true, rest
}

func addRED(md pmetric.Metrics, rb *chblock.REDBlock, eb *chblock.EdgeBlock) {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		svc := chblock.ServiceNamePdata(rm.Resource().Attributes())
		for j := 0; j < rm.ScopeMetrics().Len(); j++ {
			ms := rm.ScopeMetrics().At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				if m.Type() != pmetric.MetricTypeExponentialHistogram {
					continue // from a newer weir_red than this exporter knows
				}
				dps := m.ExponentialHistogram().DataPoints()
				for d := 0; d < dps.Len(); d++ {
					switch m.Name() {
					case model.REDMetric:
						rb.AppendPdata(svc, dps.At(d))
					case model.EdgeMetric:
						eb.AppendPdata(dps.At(d))
					}
				}
			}
		}
	}
}

func (p *blockPool) getSpans(info ingest.ServerInfo) *chblock.SpanBlock {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.info != info {
		p.info, p.spans, p.metrics = info, nil, nil
	}
	if n := len(p.spans); n > 0 {
		b := p.spans[n-1]
		p.spans = p.spans[:n-1]
		return b
	}
	return chblock.NewSpanBlock(info.LowCardinality, info.Location())
}

func (p *blockPool) putSpans(b *chblock.SpanBlock) {
	b.Reset()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.spans) < 4 {
		p.spans = append(p.spans, b)
	}
}

func (p *blockPool) getMetrics(info ingest.ServerInfo) *chblock.MetricSet {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.info != info {
		p.info, p.spans, p.metrics = info, nil, nil
	}
	if n := len(p.metrics); n > 0 {
		s := p.metrics[n-1]
		p.metrics = p.metrics[:n-1]
		return s
	}
	return chblock.NewMetricSet(info.LowCardinality)
}

func (p *blockPool) putMetrics(s *chblock.MetricSet) {
	s.Reset()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.metrics) < 4 {
		p.metrics = append(p.metrics, s)
	}
}

// blockWriter encodes blocks and appends them to the journal.
type blockWriter struct {
	e   *chExporter
	enc []byte
	cw  *compress.Writer
}

func (e *chExporter) writer() *blockWriter {
	method := compress.LZ4
	switch e.blocks.compression {
	case ingest.CompressNone:
		method = compress.None
	case ingest.CompressZSTD:
		method = compress.ZSTD
	}
	return &blockWriter{e: e, cw: compress.NewWriter(compress.LevelZero, method)}
}

type encoder interface {
	Rows() int
	TimeRange() (lo, hi uint32)
	Encode(dst []byte, insertID uint64) ([]byte, error)
}

func (w *blockWriter) spans(b *chblock.SpanBlock) error {
	if b.Rows() == 0 {
		return nil
	}
	if err := w.block(b, rollup.TableSpans); err != nil {
		return err
	}
	var err error
	if w.enc, err = b.Index.Encode(w.enc[:0]); err != nil {
		return consumererror.NewPermanent(fmt.Errorf("encode trace_index block: %w", err))
	}
	return w.append(&ingest.Block{Rows: b.Index.Rows(), Table: rollup.TableTraceIndex})
}

func (w *blockWriter) block(b encoder, table string) error {
	if b.Rows() == 0 {
		return nil
	}
	id := w.e.store.NextInsertID()
	var err error
	if w.enc, err = b.Encode(w.enc[:0], id); err != nil {
		return consumererror.NewPermanent(fmt.Errorf("encode %s block: %w", table, err))
	}
	lo, hi := b.TimeRange()
	return w.append(&ingest.Block{InsertID: id, Rows: b.Rows(), MinTime: lo, MaxTime: hi, Table: table})
}

func (w *blockWriter) append(b *ingest.Block) error {
	b.Compression = w.e.blocks.compression
	data := w.enc
	if b.Compression != ingest.CompressNone {
		if err := w.cw.Compress(w.enc); err != nil {
			return fmt.Errorf("compress %s block: %w", b.Table, err)
		}
		data = w.cw.Data
	}
	if _, err := w.e.store.AppendBlock(b, data); err != nil {
		return fmt.Errorf("queue %s block: %w", b.Table, err)
	}
	return nil
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
