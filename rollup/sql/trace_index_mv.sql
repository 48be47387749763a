-- trace_index_mv: the one shallow view over spans; every span insert updates the index.
CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.trace_index_mv{{onCluster}} TO {{.DB}}.{{local "trace_index"}} AS
SELECT
    TraceId,
    toDate(Timestamp) AS Day,
    minState(StartTimeUnixNano) AS StartUnixNano,
    maxState(toUInt64(StartTimeUnixNano + DurationNano)) AS EndUnixNano,
    groupUniqArrayState(toString(ServiceName)) AS Services,
    countState() AS SpanCount
FROM {{.DB}}.{{local "spans"}}
GROUP BY TraceId, Day
