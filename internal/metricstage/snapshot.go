package metricstage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/weirhq/weir/internal/hashtable"
)

// Snapshot appends the stages' state to dst: the streams' last points and the live series.
func (s *Stages) Snapshot(dst []byte) []byte {
	dst = append(dst, 1) // version
	dst = binary.LittleEndian.AppendUint64(dst, s.started)
	dst = binary.AppendUvarint(dst, uint64(s.streams.Len()))
	for k, st := range s.streams.All() {
		dst = binary.LittleEndian.AppendUint64(dst, k)
		dst = binary.LittleEndian.AppendUint64(dst, st.observed)
		dst = binary.AppendVarint(dst, st.i)
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(st.f))
		dst = binary.AppendUvarint(dst, st.count)
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(st.sum))
		dst = appendFloats(dst, st.bounds)
		dst = appendUints(dst, st.counts)
		dst = binary.AppendUvarint(dst, st.exp.zeroCount)
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(st.exp.zeroThreshold))
		dst = binary.AppendVarint(dst, int64(st.exp.scale))
		dst = binary.AppendVarint(dst, int64(st.exp.pos.offset))
		dst = appendUints(dst, st.exp.pos.counts)
		dst = binary.AppendVarint(dst, int64(st.exp.neg.offset))
		dst = appendUints(dst, st.exp.neg.counts)
	}
	dst = binary.AppendUvarint(dst, uint64(len(s.metrics)))
	for k, ms := range s.metrics {
		dst = binary.LittleEndian.AppendUint64(dst, k)
		dst = appendString(dst, ms.service)
		dst = appendString(dst, ms.metric)
		dst = binary.AppendVarint(dst, ms.oldest)
		dst = binary.AppendUvarint(dst, uint64(ms.lastSeen.Len()))
		for h, seen := range ms.lastSeen.All() {
			dst = binary.LittleEndian.AppendUint64(dst, h)
			dst = binary.AppendVarint(dst, seen)
		}
	}
	return dst
}

func appendFloats(dst []byte, v []float64) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	for _, f := range v {
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(f))
	}
	return dst
}

func appendUints(dst []byte, v []uint64) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	for _, u := range v {
		dst = binary.AppendUvarint(dst, u)
	}
	return dst
}

func appendString(dst []byte, v string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	return append(dst, v...)
}

var errSnapshot = errors.New("metric stages snapshot: truncated or malformed")

// Load replaces the stages' state with a Snapshot's. The start time it was taken with is kept:
// the state goes back that far.
func (s *Stages) Load(b []byte) error {
	r := reader{b: b}
	if v := r.byte(); v != 1 {
		return fmt.Errorf("metric stages snapshot version %d: this weir reads version 1", v)
	}
	started := r.u64()
	streams := hashtable.New[*stream](0)
	for n := r.count(); n > 0 && r.err == nil; n-- {
		k := r.u64()
		st := &stream{observed: r.u64(), i: r.varint(), f: math.Float64frombits(r.u64()), count: r.uvarint(),
			sum: math.Float64frombits(r.u64())}
		st.bounds = r.floats()
		st.counts = r.uints()
		st.exp.zeroCount = r.uvarint()
		st.exp.zeroThreshold = math.Float64frombits(r.u64())
		st.exp.scale = int32(r.varint())
		st.exp.pos.offset = int32(r.varint())
		st.exp.pos.counts = r.uints()
		st.exp.neg.offset = int32(r.varint())
		st.exp.neg.counts = r.uints()
		streams.Put(k, st)
	}
	metrics := map[uint64]*metricSeries{}
	total := 0
	for n := r.count(); n > 0 && r.err == nil; n-- {
		k := r.u64()
		ms := &metricSeries{service: r.string(), metric: r.string(), oldest: r.varint(), lastSeen: hashtable.New[int64](0)}
		for m := r.count(); m > 0 && r.err == nil; m-- {
			h := r.u64()
			ms.lastSeen.Put(h, r.varint())
		}
		total += ms.lastSeen.Len()
		metrics[k] = ms
	}
	if r.err != nil {
		return r.err
	}
	s.started, s.streams, s.metrics, s.total, s.ms = started, streams, metrics, total, nil
	return nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errSnapshot
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) < 1 {
		r.fail()
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) u64() uint64 {
	if len(r.b) < 8 {
		r.fail()
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count is a length that cannot exceed the bytes left (each element takes at least one).
func (r *reader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *reader) floats() []float64 {
	n := r.count()
	if n == 0 {
		return nil
	}
	v := make([]float64, 0, n)
	for ; n > 0 && r.err == nil; n-- {
		v = append(v, math.Float64frombits(r.u64()))
	}
	return v
}

func (r *reader) uints() []uint64 {
	n := r.count()
	if n == 0 {
		return nil
	}
	v := make([]uint64, 0, n)
	for ; n > 0 && r.err == nil; n-- {
		v = append(v, r.uvarint())
	}
	return v
}

func (r *reader) string() string {
	n := r.count()
	if r.err != nil || n > len(r.b) {
		r.fail()
		return ""
	}
	v := string(r.b[:n])
	r.b = r.b[n:]
	return v
}
