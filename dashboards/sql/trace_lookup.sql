{{- /* The rows of spans that belong to trace ${trace_id}, found through trace_index as
rollup/SCHEMA.md describes ("Reading a trace by ID"): the trace's services are the sort key
prefix, its first and last nanosecond bound Timestamp. No trace_index row: no spans. */ -}}
{{define "trace_where" -}}
TraceId = unhex(${trace_id:singlequote})
  AND ServiceName IN (
      SELECT arrayJoin(services) FROM (
          SELECT groupUniqArrayMerge(Services) AS services FROM {{db}}.trace_index
          WHERE TraceId = unhex(${trace_id:singlequote})))
  AND Timestamp >= (
      SELECT toDateTime(intDiv(minMerge(StartUnixNano), 1000000000)) FROM {{db}}.trace_index
      WHERE TraceId = unhex(${trace_id:singlequote}))
  AND Timestamp <= (
      SELECT toDateTime(intDiv(maxMerge(EndUnixNano), 1000000000)) FROM {{db}}.trace_index
      WHERE TraceId = unhex(${trace_id:singlequote}))
{{- end}}
