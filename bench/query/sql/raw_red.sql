-- raw_red: requests, errors and p50/p95/p99 per hour of one service, straight from spans, as
-- a dashboard without tiers would ask: quantiles samples up to 8,192 durations per hour.
SELECT toDateTime(intDiv(toUInt32(Timestamp), 3600) * 3600) AS h,
       count() AS requests,
       countIf(StatusCode = 2) AS errors,
       quantiles(0.5, 0.95, 0.99)(DurationNano) AS q
FROM {{.DB}}.spans
WHERE ServiceName = ? AND Timestamp >= toDateTime({{.From}}) AND Timestamp < toDateTime({{.To}})
GROUP BY h
ORDER BY h
