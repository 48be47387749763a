{{- /* Variable service: the services with RED rows in the range, in any tier. A coarse row
counts when its window overlaps the range. Data: none. */ -}}
SELECT DISTINCT ServiceName FROM (
    SELECT ServiceName FROM {{db}}.red_1m WHERE Timestamp >= $__fromTime AND Timestamp < $__toTime
    UNION ALL
    SELECT ServiceName FROM {{db}}.red_1h WHERE Timestamp >= toStartOfHour($__fromTime) AND Timestamp < $__toTime
    UNION ALL
    SELECT ServiceName FROM {{db}}.red_1d WHERE Timestamp >= toStartOfDay($__fromTime) AND Timestamp < $__toTime
)
ORDER BY ServiceName
