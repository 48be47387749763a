{{- /* Service overview: latency percentiles per service and bucket, in nanoseconds, from the
merged distributions (rollup.QuantileSQL: model.Distribution.Quantile in SQL).
.RED is the tier-aware RED query grouped by service. */ -}}
SELECT bucket AS time, service,
       {{quantile 0.50 "p50" "zero_count" "bucket_indexes" "bucket_counts"}} AS p50,
       {{quantile 0.95 "p95" "zero_count" "bucket_indexes" "bucket_counts"}} AS p95,
       {{quantile 0.99 "p99" "zero_count" "bucket_indexes" "bucket_counts"}} AS p99
FROM (
{{.RED}}
)
ORDER BY time, service
