{{- /* Traces: the spans of trace ${trace_id} as a table, with their sample weight and
attributes (key=value, in the order sent). */ -}}
SELECT lower(hex(SpanId)) AS span_id,
       if(hex(ParentSpanId) = '0000000000000000', '', lower(hex(ParentSpanId))) AS parent_span_id,
       ServiceName AS service,
       SpanName AS operation,
       toDateTime(intDiv(StartTimeUnixNano, 1000000000)) AS start_time,
       DurationNano / 1e6 AS duration_ms,
       StatusCode AS status_code,
       StatusMessage AS status_message,
       SampleWeight AS sample_weight,
       arrayStringConcat(arrayMap((k, v) -> concat(k, '=', v), SpanAttributeKeys, SpanAttributeValues), ', ') AS attributes
FROM {{db}}.spans
WHERE {{template "trace_where"}}
ORDER BY StartTimeUnixNano, span_id
