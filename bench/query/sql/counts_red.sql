-- counts_red: requests and errors per hour of one service from red_1h, without the latency
-- distribution: what the tier costs when no arrays are read.
SELECT toDateTime(intDiv(toUInt32(Timestamp), 3600) * 3600) AS h,
       sum(Requests) AS requests,
       sumIf(Requests, StatusCode = 2) AS errors
FROM {{.DB}}.red_1h
WHERE ServiceName = ? AND Timestamp >= toDateTime({{.From}}) AND Timestamp < toDateTime({{.To}})
GROUP BY h
ORDER BY h
