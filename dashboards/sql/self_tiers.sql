{{- /* weir itself: the metric series rows of weir's own metrics (.Metrics, a list of quoted
names) of the selected weir services, from series_1m, series_1h and series_1d, each bounded by
the tier plan of tier_plan.sql (.Pred), so that each minute of the range is read from one tier.
weir pushes its own metrics to its OTLP receiver (config/weir.yaml, service.telemetry), as
deltas; they are stored like any service's metrics, under weir's service name. */ -}}
{{define "self_tiers" -}}
    SELECT Timestamp, MetricName, AttributeKeys, AttributeValues, Count, Sum, Min, Max, BucketBounds, BucketCounts
    FROM {{db}}.series_1m
    WHERE {{.Pred.Minute}}
      AND ServiceName IN (${service:singlequote}) AND MetricName IN ({{.Metrics}})
    UNION ALL
    SELECT Timestamp, MetricName, AttributeKeys, AttributeValues, Count, Sum, Min, Max, BucketBounds, BucketCounts
    FROM {{db}}.series_1h
    WHERE {{.Pred.Hour}}
      AND ServiceName IN (${service:singlequote}) AND MetricName IN ({{.Metrics}})
    UNION ALL
    SELECT Timestamp, MetricName, AttributeKeys, AttributeValues, Count, Sum, Min, Max, BucketBounds, BucketCounts
    FROM {{db}}.series_1d
    WHERE {{.Pred.Day}}
      AND ServiceName IN (${service:singlequote}) AND MetricName IN ({{.Metrics}})
{{- end}}
