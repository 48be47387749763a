{{- /* Traces: the slowest traces of the selection, by their slowest selected span. Spans are
sampled: sample_weight is that span's adjusted count (how many spans it stands for). */ -}}
SELECT lower(hex(TraceId)) AS trace_id,
       min(Timestamp) AS start_time,
       argMax(ServiceName, DurationNano) AS service,
       argMax(SpanName, DurationNano) AS operation,
       max(DurationNano) / 1e6 AS duration_ms,
       argMax(SampleWeight, DurationNano) AS sample_weight,
       count() AS spans,
       countIf(StatusCode = 2) AS error_spans
FROM {{db}}.spans
WHERE Timestamp >= $__fromTime AND Timestamp < $__toTime
  AND ServiceName IN (${service:singlequote}) AND SpanName IN (${operation:singlequote})
GROUP BY TraceId
ORDER BY duration_ms DESC, trace_id
LIMIT 20
