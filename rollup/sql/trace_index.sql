-- trace_index: trace ID -> first start, last end, services, span count; fed by trace_index_mv.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{local "trace_index"}}{{onCluster}} (
    TraceId       FixedString(16),
    Day           Date,
    StartUnixNano AggregateFunction(min, UInt64),
    EndUnixNano   AggregateFunction(max, UInt64),
    Services      AggregateFunction(groupUniqArray, String),
    SpanCount     AggregateFunction(count)
) ENGINE = {{engine "AggregatingMergeTree" "trace_index"}}
PARTITION BY Day
ORDER BY TraceId
SETTINGS index_granularity = 8192
{{- distributed "trace_index" "cityHash64(TraceId)"}}
