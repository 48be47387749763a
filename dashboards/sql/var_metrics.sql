{{- /* Variable metric: the metric names of the selected services in the range, in any tier. */ -}}
SELECT DISTINCT MetricName FROM (
    SELECT MetricName FROM {{db}}.series_1m WHERE Timestamp >= $__fromTime AND Timestamp < $__toTime AND ServiceName IN (${service:singlequote})
    UNION ALL
    SELECT MetricName FROM {{db}}.series_1h WHERE Timestamp >= toStartOfHour($__fromTime) AND Timestamp < $__toTime AND ServiceName IN (${service:singlequote})
    UNION ALL
    SELECT MetricName FROM {{db}}.series_1d WHERE Timestamp >= toStartOfDay($__fromTime) AND Timestamp < $__toTime AND ServiceName IN (${service:singlequote})
)
ORDER BY MetricName
