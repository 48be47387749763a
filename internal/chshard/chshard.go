// Package chshard picks the shard of a ClickHouse cluster that a row of weir's tables
// belongs to, as weir's Distributed tables do (rollup/sql, SCHEMA.md "On a cluster"), so
// that a writer can send each shard its own rows into the <table>_local tables itself.
//
// The keys are those the Distributed tables shard by: cityHash64(TraceId) for spans and
// trace_index, cityHash64(ServiceName) for the RED tiers, cityHash64(Client) for the edge
// tiers, and SeriesHash itself for metric points and series tiers. A test holds them to
// the server's choice through a real cluster.
//
// The package imports no ClickHouse client, so components that build blocks can use it.
package chshard // import "github.com/weirhq/weir/internal/chshard"

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/go-faster/city"
)

// TraceKey is cityHash64(TraceId) of a FixedString(16) trace ID: the key of spans and
// trace_index.
func TraceKey(id [16]byte) uint64 { return city.CH64(id[:]) }

// StringKey is cityHash64(s) of a String: the key of the RED tiers (ServiceName) and the
// edge tiers (Client).
func StringKey(s string) uint64 {
	return city.CH64(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// Selector maps a sharding key to a shard as a Distributed table does: the key modulo the
// sum of the shards' weights picks a slot, and the slots go to the shards in order, as many
// to each as its weight. A Selector is safe for concurrent use.
type Selector struct {
	slots []uint16 // slot -> shard index, from 0
}

// MaxSlots bounds the sum of the weights, and so a Selector's memory.
const MaxSlots = 1 << 16

// NewSelector returns the Selector of shards with these weights (system.clusters'
// shard_weight, in shard_num order). A shard of weight 0 gets no rows.
func NewSelector(weights []int) (*Selector, error) {
	var s Selector
	total := 0
	for i, w := range weights {
		if w < 0 {
			return nil, fmt.Errorf("shard %d: weight %d is negative", i+1, w)
		}
		total += w
		if total > MaxSlots {
			return nil, fmt.Errorf("shard weights add up to more than %d", MaxSlots)
		}
		for range w {
			s.slots = append(s.slots, uint16(i))
		}
	}
	if total == 0 {
		return nil, errors.New("no shard has a weight above 0")
	}
	return &s, nil
}

// Shard is the index (from 0, in shard_num order) of the shard that gets key.
func (s *Selector) Shard(key uint64) int {
	return int(s.slots[key%uint64(len(s.slots))])
}
