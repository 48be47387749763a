{{- /* Service overview: latency percentiles per service and bucket, in nanoseconds, which
the server computes from the merged distributions (rollup.QuantileSQL) or, where a bucket is
one window of a per-service tier, reads from its row.
.RED is the tier-aware RED query grouped by service, with the quantiles 0.5, 0.95, 0.99. */ -}}
SELECT bucket AS time, service,
       quantile_0 AS p50,
       quantile_1 AS p95,
       quantile_2 AS p99
FROM (
{{.RED}}
)
ORDER BY time, service
