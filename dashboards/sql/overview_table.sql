{{- /* Service overview, table: one row per service and operation over the whole range.
.RED is the tier-aware RED query grouped by service and span_name. */ -}}
SELECT service,
       operation,
       req AS requests,
       err AS errors,
       if(req = 0, 0, err / req) AS error_ratio,
       req / {{rangeSeconds}} AS rps,
       {{quantile 0.50 "p50" "zc" mergedOffset "bc"}} AS p50,
       {{quantile 0.95 "p95" "zc" mergedOffset "bc"}} AS p95,
       {{quantile 0.99 "p99" "zc" mergedOffset "bc"}} AS p99
FROM (
    SELECT service, span_name AS operation,
           sum(requests) AS req, sum(errors) AS err, sum(zero_count) AS zc,
           {{mergeLatency "bucket_offset" "bucket_counts"}} AS bc
    FROM (
{{.RED}}
    )
    GROUP BY service, operation
)
ORDER BY requests DESC, service, operation
