{{- /* Variable attr_value: the values of attribute attr_key on the metric's series in the range,
in any tier ('' for series without it). */ -}}
SELECT DISTINCT AttributeValues[indexOf(AttributeKeys, ${attr_key:singlequote})] AS value FROM (
    SELECT AttributeKeys, AttributeValues FROM {{db}}.series_1m WHERE Timestamp >= $__fromTime AND Timestamp < $__toTime
        AND ServiceName IN (${service:singlequote}) AND MetricName = ${metric:singlequote}
    UNION ALL
    SELECT AttributeKeys, AttributeValues FROM {{db}}.series_1h WHERE Timestamp >= toStartOfHour($__fromTime) AND Timestamp < $__toTime
        AND ServiceName IN (${service:singlequote}) AND MetricName = ${metric:singlequote}
    UNION ALL
    SELECT AttributeKeys, AttributeValues FROM {{db}}.series_1d WHERE Timestamp >= toStartOfDay($__fromTime) AND Timestamp < $__toTime
        AND ServiceName IN (${service:singlequote}) AND MetricName = ${metric:singlequote}
)
ORDER BY value
