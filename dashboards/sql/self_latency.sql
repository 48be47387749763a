{{- /* weir itself: the time to send one INSERT block to ClickHouse, over every table: p50 and
p95 estimated from the merged delta histogram (the bucket holding the rank, linear within it,
the bucket narrowed to the observed min and max), and the exact mean. */ -}}
SELECT time,
       {{quantileHist 0.5 "i50"}} AS p50,
       {{quantileHist 0.95 "i95"}} AS p95,
       if(n = 0, nan, total / n) AS mean
FROM (
    SELECT time, b, c, cum, n, lo, hi, total,
           arrayFirstIndex(x -> x >= 0.5 * n, cum) AS i50,
           arrayFirstIndex(x -> x >= 0.95 * n, cum) AS i95
    FROM (
        SELECT toDateTime(intDiv(toUInt32(Timestamp), {{step}}) * {{step}}) AS time,
               sumMap(BucketBounds, BucketCounts) AS m,
               tupleElement(m, 1) AS b,
               tupleElement(m, 2) AS c,
               arrayCumSum(c) AS cum,
               arraySum(c) AS n,
               min(Min) AS lo,
               max(Max) AS hi,
               sum(Sum) AS total
        FROM (
{{template "self_tiers" .}}
        )
        GROUP BY time
    )
)
ORDER BY time
