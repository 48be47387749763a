{{- /* Traces: the latest traces of the selection with a failed span (status error), with the
first failed span's service, operation and message. weighted_error_spans estimates how many
failed spans of the original traffic the stored ones stand for. */ -}}
SELECT lower(hex(TraceId)) AS trace_id,
       min(Timestamp) AS start_time,
       argMin(ServiceName, StartTimeUnixNano) AS service,
       argMin(SpanName, StartTimeUnixNano) AS operation,
       argMin(StatusMessage, StartTimeUnixNano) AS status_message,
       count() AS error_spans,
       sum(SampleWeight) AS weighted_error_spans,
       max(SampleWeight) AS sample_weight
FROM {{db}}.spans
WHERE Timestamp >= $__fromTime AND Timestamp < $__toTime
  AND ServiceName IN (${service:singlequote}) AND SpanName IN (${operation:singlequote})
  AND StatusCode = 2
GROUP BY TraceId
ORDER BY start_time DESC, trace_id
LIMIT 20
