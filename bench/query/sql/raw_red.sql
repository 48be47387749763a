-- raw_red: requests, errors and p95 per hour of one service, straight from spans.
SELECT toDateTime(intDiv(toUInt32(Timestamp), 3600) * 3600) AS h,
       count() AS requests,
       countIf(StatusCode = 2) AS errors,
       quantile(0.95)(DurationNano) AS p95
FROM {{.DB}}.spans
WHERE ServiceName = ? AND Timestamp >= toDateTime({{.From}}) AND Timestamp < toDateTime({{.To}})
GROUP BY h
ORDER BY h
