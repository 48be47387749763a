{{- /* Traces: trace ${trace_id} for the trace view (the plugin's trace format): the span
tree with times in milliseconds. */ -}}
SELECT lower(hex(TraceId)) AS traceID,
       lower(hex(SpanId)) AS spanID,
       if(hex(ParentSpanId) = '0000000000000000', '', lower(hex(ParentSpanId))) AS parentSpanID,
       ServiceName AS serviceName,
       SpanName AS operationName,
       StartTimeUnixNano / 1e6 AS startTime,
       DurationNano / 1e6 AS duration,
       multiIf(SpanKind = 1, 'internal', SpanKind = 2, 'server', SpanKind = 3, 'client',
               SpanKind = 4, 'producer', SpanKind = 5, 'consumer', 'unspecified') AS kind,
       multiIf(StatusCode = 1, 'ok', StatusCode = 2, 'error', 'unset') AS statusCode,
       StatusMessage AS statusMessage
FROM {{db}}.spans
WHERE {{template "trace_where"}}
ORDER BY StartTimeUnixNano, spanID
