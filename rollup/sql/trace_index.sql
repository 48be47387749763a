-- trace_index: trace ID -> first start, last end, services, span count; fed by trace_index_mv.
CREATE TABLE IF NOT EXISTS {{.DB}}.trace_index (
    TraceId       FixedString(16),
    Day           Date,
    StartUnixNano AggregateFunction(min, UInt64),
    EndUnixNano   AggregateFunction(max, UInt64),
    Services      AggregateFunction(groupUniqArray, String),
    SpanCount     AggregateFunction(count)
) ENGINE = AggregatingMergeTree
PARTITION BY Day
ORDER BY TraceId
SETTINGS index_granularity = 8192
