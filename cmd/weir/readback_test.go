package main

import (
	"context"
	"encoding/hex"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/weirhq/weir/internal/anyvalue"
	"github.com/weirhq/weir/internal/chtest"
)

// flatSpans turns td into one single-span Traces per span, keyed by span ID, so what was
// sent and what ClickHouse holds compare span by span whatever the grouping.
func flatSpans(td ptrace.Traces) map[string]ptrace.Traces {
	out := map[string]ptrace.Traces{}
	for r := 0; r < td.ResourceSpans().Len(); r++ {
		rs := td.ResourceSpans().At(r)
		for s := 0; s < rs.ScopeSpans().Len(); s++ {
			ss := rs.ScopeSpans().At(s)
			for i := 0; i < ss.Spans().Len(); i++ {
				one := ptrace.NewTraces()
				ors := one.ResourceSpans().AppendEmpty()
				rs.Resource().CopyTo(ors.Resource())
				ors.SetSchemaUrl(rs.SchemaUrl())
				oss := ors.ScopeSpans().AppendEmpty()
				ss.Scope().CopyTo(oss.Scope())
				oss.SetSchemaUrl(ss.SchemaUrl())
				sp := ss.Spans().At(i)
				sp.CopyTo(oss.Spans().AppendEmpty())
				id := sp.SpanID()
				out[hex.EncodeToString(id[:])] = one
			}
		}
	}
	return out
}

func putAttrs(t *testing.T, m pcommon.Map, keys, vals []string, types []uint8) {
	t.Helper()
	require.Equal(t, len(keys), len(vals))
	require.Equal(t, len(keys), len(types))
	for i, k := range keys {
		v := m.PutEmpty(k)
		require.NoError(t, anyvalue.Parse(types[i], vals[i], v), "attribute %s", k)
	}
}

// readSpans reads every span of db back into single-span Traces keyed by span ID.
func readSpans(t *testing.T, db *chtest.DB) map[string]ptrace.Traces {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := db.Conn.Query(ctx, `SELECT
		StartTimeUnixNano, DurationNano, SpanName, SpanKind, TraceId, SpanId, ParentSpanId,
		TraceState, Flags, StatusCode, StatusMessage,
		SpanAttributeKeys, SpanAttributeValues, SpanAttributeTypes, DroppedAttributesCount,
		ResourceAttributeKeys, ResourceAttributeValues, ResourceAttributeTypes,
		ResourceDroppedAttributesCount, ResourceSchemaUrl,
		ScopeName, ScopeVersion, ScopeAttributeKeys, ScopeAttributeValues, ScopeAttributeTypes,
		ScopeDroppedAttributesCount, ScopeSchemaUrl,
		Events.TimeUnixNano, Events.Name, Events.AttributeKeys, Events.AttributeValues,
		Events.AttributeTypes, Events.DroppedAttributesCount, DroppedEventsCount,
		Links.TraceId, Links.SpanId, Links.TraceState, Links.Flags, Links.AttributeKeys,
		Links.AttributeValues, Links.AttributeTypes, Links.DroppedAttributesCount, DroppedLinksCount
		FROM `+db.Table("spans"))
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]ptrace.Traces{}
	for rows.Next() {
		var (
			start                                       uint64
			dur                                         int64
			name, traceID, spanID, parentID, traceState string
			statusMsg, resSchema, scopeName, scopeVer   string
			scopeSchema                                 string
			kind, status                                uint8
			flags, dropped, resDropped, scopeDropped    uint32
			droppedEvents, droppedLinks                 uint32
			ak, av, rk, rv, sk, sv                      []string
			at, rt, st                                  []uint8
			evTime                                      []uint64
			evName                                      []string
			evK, evV                                    [][]string
			evT                                         [][]uint8
			evDropped                                   []uint32
			lkTrace, lkSpan, lkState                    []string
			lkFlags, lkDropped                          []uint32
			lkK, lkV                                    [][]string
			lkT                                         [][]uint8
		)
		require.NoError(t, rows.Scan(&start, &dur, &name, &kind, &traceID, &spanID, &parentID,
			&traceState, &flags, &status, &statusMsg,
			&ak, &av, &at, &dropped,
			&rk, &rv, &rt, &resDropped, &resSchema,
			&scopeName, &scopeVer, &sk, &sv, &st, &scopeDropped, &scopeSchema,
			&evTime, &evName, &evK, &evV, &evT, &evDropped, &droppedEvents,
			&lkTrace, &lkSpan, &lkState, &lkFlags, &lkK, &lkV, &lkT, &lkDropped, &droppedLinks))
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		putAttrs(t, rs.Resource().Attributes(), rk, rv, rt)
		rs.Resource().SetDroppedAttributesCount(resDropped)
		rs.SetSchemaUrl(resSchema)
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName(scopeName)
		ss.Scope().SetVersion(scopeVer)
		putAttrs(t, ss.Scope().Attributes(), sk, sv, st)
		ss.Scope().SetDroppedAttributesCount(scopeDropped)
		ss.SetSchemaUrl(scopeSchema)
		sp := ss.Spans().AppendEmpty()
		sp.SetStartTimestamp(pcommon.Timestamp(start))
		sp.SetEndTimestamp(pcommon.Timestamp(uint64(int64(start) + dur)))
		sp.SetName(name)
		sp.SetKind(ptrace.SpanKind(kind))
		sp.SetTraceID(pcommon.TraceID([]byte(traceID)))
		sp.SetSpanID(pcommon.SpanID([]byte(spanID)))
		sp.SetParentSpanID(pcommon.SpanID([]byte(parentID)))
		sp.TraceState().FromRaw(traceState)
		sp.SetFlags(flags)
		sp.Status().SetCode(ptrace.StatusCode(status))
		sp.Status().SetMessage(statusMsg)
		putAttrs(t, sp.Attributes(), ak, av, at)
		sp.SetDroppedAttributesCount(dropped)
		for i := range evTime {
			ev := sp.Events().AppendEmpty()
			ev.SetTimestamp(pcommon.Timestamp(evTime[i]))
			ev.SetName(evName[i])
			putAttrs(t, ev.Attributes(), evK[i], evV[i], evT[i])
			ev.SetDroppedAttributesCount(evDropped[i])
		}
		sp.SetDroppedEventsCount(droppedEvents)
		for i := range lkTrace {
			lk := sp.Links().AppendEmpty()
			lk.SetTraceID(pcommon.TraceID([]byte(lkTrace[i])))
			lk.SetSpanID(pcommon.SpanID([]byte(lkSpan[i])))
			lk.TraceState().FromRaw(lkState[i])
			lk.SetFlags(lkFlags[i])
			putAttrs(t, lk.Attributes(), lkK[i], lkV[i], lkT[i])
			lk.SetDroppedAttributesCount(lkDropped[i])
		}
		sp.SetDroppedLinksCount(droppedLinks)
		out[hex.EncodeToString([]byte(spanID))] = td
	}
	require.NoError(t, rows.Err())
	return out
}

// requireSameSpans asserts that got holds exactly the spans of want, every field equal.
func requireSameSpans(t *testing.T, want, got map[string]ptrace.Traces) {
	t.Helper()
	m := &ptrace.JSONMarshaler{}
	var ids []string
	for id := range want {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		g, ok := got[id]
		if !ok {
			t.Errorf("span %s was sent but is not in ClickHouse", id)
			continue
		}
		wj, err := m.MarshalTraces(want[id])
		require.NoError(t, err)
		gj, err := m.MarshalTraces(g)
		require.NoError(t, err)
		require.JSONEq(t, string(wj), string(gj), "span %s", id)
	}
	require.Len(t, got, len(want), "ClickHouse holds spans that were not sent")
}

// waitForCount polls query until it returns want or the timeout passes.
func waitForCount(t *testing.T, db *chtest.DB, query string, want uint64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var got uint64
	for {
		got = db.QueryUint64(t, query)
		if got >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.Equal(t, want, got, "%s", query)
}
