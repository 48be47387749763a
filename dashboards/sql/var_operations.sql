{{- /* Variable operation: the span names of the selected services with RED rows in the range,
in any tier. Data: none. */ -}}
SELECT DISTINCT SpanName FROM (
    SELECT SpanName FROM {{db}}.red_1m WHERE Timestamp >= $__fromTime AND Timestamp < $__toTime AND ServiceName IN (${service:singlequote})
    UNION ALL
    SELECT SpanName FROM {{db}}.red_1h WHERE Timestamp >= toStartOfHour($__fromTime) AND Timestamp < $__toTime AND ServiceName IN (${service:singlequote})
    UNION ALL
    SELECT SpanName FROM {{db}}.red_1d WHERE Timestamp >= toStartOfDay($__fromTime) AND Timestamp < $__toTime AND ServiceName IN (${service:singlequote})
)
ORDER BY SpanName
