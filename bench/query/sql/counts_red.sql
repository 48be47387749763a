-- counts_red: requests and errors per hour of one service from red_service_1h, without the
-- latency distribution: what a query of the tier costs when it moves no distribution at all.
SELECT toDateTime(intDiv(toUInt32(Timestamp), 3600) * 3600) AS h,
       sum(Requests) AS requests,
       sum(Errors) AS errors
FROM {{.DB}}.red_service_1h
WHERE ServiceName = ? AND Timestamp >= toDateTime({{.From}}) AND Timestamp < toDateTime({{.To}})
GROUP BY h
ORDER BY h
