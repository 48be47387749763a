{{- /* Variable attr_key: the attribute keys of the metric's series in the range, in any tier. */ -}}
SELECT DISTINCT arrayJoin(AttributeKeys) AS key FROM (
    SELECT AttributeKeys FROM {{db}}.series_1m WHERE Timestamp >= $__fromTime AND Timestamp < $__toTime
        AND ServiceName IN (${service:singlequote}) AND MetricName = ${metric:singlequote}
    UNION ALL
    SELECT AttributeKeys FROM {{db}}.series_1h WHERE Timestamp >= toStartOfHour($__fromTime) AND Timestamp < $__toTime
        AND ServiceName IN (${service:singlequote}) AND MetricName = ${metric:singlequote}
    UNION ALL
    SELECT AttributeKeys FROM {{db}}.series_1d WHERE Timestamp >= toStartOfDay($__fromTime) AND Timestamp < $__toTime
        AND ServiceName IN (${service:singlequote}) AND MetricName = ${metric:singlequote}
)
ORDER BY key
