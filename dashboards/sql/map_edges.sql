{{- /* Service map, edges frame of the node graph: one edge per client -> server pair touching
a selected service, over the whole range. mainstat is calls per second, secondarystat the
share of failed calls, detail__ fields the latency percentiles in milliseconds.
.Edges is the tier-aware edges query grouped by client and server. */ -}}
SELECT concat(client, ' -> ', server) AS id,
       client AS source,
       server AS target,
       calls_total / {{rangeSeconds}} AS mainstat,
       if(calls_total = 0, 0, errors_total / calls_total) AS secondarystat,
       {{quantile 0.50 "p50" "zc" mergedOffset "bc"}} / 1e6 AS detail__p50_ms,
       {{quantile 0.95 "p95" "zc" mergedOffset "bc"}} / 1e6 AS detail__p95_ms,
       {{quantile 0.99 "p99" "zc" mergedOffset "bc"}} / 1e6 AS detail__p99_ms
FROM (
    SELECT client, server,
           sum(calls) AS calls_total, sum(errors) AS errors_total, sum(zero_count) AS zc,
           {{mergeLatency "bucket_offset" "bucket_counts"}} AS bc
    FROM (
{{.Edges}}
    )
    GROUP BY client, server
)
WHERE client IN (${service:singlequote}) OR server IN (${service:singlequote})
ORDER BY id
