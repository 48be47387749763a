{{- /* Variable service (metrics explorer): the services with metric series in the range, in
any tier. */ -}}
SELECT DISTINCT ServiceName FROM (
    SELECT ServiceName FROM {{db}}.series_1m WHERE Timestamp >= $__fromTime AND Timestamp < $__toTime
    UNION ALL
    SELECT ServiceName FROM {{db}}.series_1h WHERE Timestamp >= toStartOfHour($__fromTime) AND Timestamp < $__toTime
    UNION ALL
    SELECT ServiceName FROM {{db}}.series_1d WHERE Timestamp >= toStartOfDay($__fromTime) AND Timestamp < $__toTime
)
ORDER BY ServiceName
