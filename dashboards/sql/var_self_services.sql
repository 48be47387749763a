{{- /* Variable service (weir itself): the services with collector metrics (otelcol_*) in the
range, in any tier: weir's own service name, "weir" unless service.telemetry.resource sets
another, and any other OpenTelemetry Collector that sends its metrics to weir. */ -}}
SELECT DISTINCT ServiceName FROM (
    SELECT ServiceName FROM {{db}}.series_1m WHERE Timestamp >= $__fromTime AND Timestamp < $__toTime AND MetricName LIKE 'otelcol%'
    UNION ALL
    SELECT ServiceName FROM {{db}}.series_1h WHERE Timestamp >= toStartOfHour($__fromTime) AND Timestamp < $__toTime AND MetricName LIKE 'otelcol%'
    UNION ALL
    SELECT ServiceName FROM {{db}}.series_1d WHERE Timestamp >= toStartOfDay($__fromTime) AND Timestamp < $__toTime AND MetricName LIKE 'otelcol%'
)
ORDER BY ServiceName
