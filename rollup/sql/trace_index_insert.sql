-- trace_index_insert: not DDL, the INSERT that TraceIndexWriter runs per block of spans.
-- trace_index_block is an external table sent along with the query (the native protocol's
-- "external data"): one row per trace and day, aggregated in Go by TraceIndexBlock. The
-- driver cannot encode AggregateFunction columns, so the server builds the states. 18.16
-- has no function that turns a number into a count() state, so each row is repeated
-- SpanCount times: Services padded with its first element to SpanCount names holds every
-- service and gives count() exactly SpanCount rows; min, max and groupUniqArray do not mind
-- the repeats. A lambda over range(SpanCount) would read better but fails on 18.16
-- ("Unknown identifier").
INSERT INTO {{.DB}}.trace_index (TraceId, Day, StartUnixNano, EndUnixNano, Services, SpanCount)
SELECT
    TraceId,
    toDate(Day),
    minState(StartUnixNano),
    maxState(EndUnixNano),
    groupUniqArrayState(Service),
    countState()
FROM trace_index_block
ARRAY JOIN arrayResize(Services, SpanCount, Services[1]) AS Service
GROUP BY TraceId, Day
