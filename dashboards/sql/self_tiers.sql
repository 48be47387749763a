{{- /* weir itself: the metric series rows of weir's own metrics (.Metrics, a list of quoted
names) of the selected weir services: one sub-select per series tier, each bounded by rollup's
tier plan (.Tiers, rollup.PanelTiers), so that each minute of the range is read from one tier.
weir pushes its own metrics to its OTLP receiver (config/weir.yaml, service.telemetry), as
deltas; they are stored like any service's metrics, under weir's service name. */ -}}
{{define "self_tiers" -}}
{{- range $i, $t := .Tiers}}{{if $i}}
    UNION ALL{{end}}
    SELECT Timestamp, MetricName, AttributeKeys, AttributeValues, Count, Sum, Min, Max, BucketBounds, BucketCounts
    FROM {{db}}.{{$t.Table}}
    WHERE {{$t.Where}}
      AND ServiceName IN (${service:singlequote}) AND MetricName IN ({{$.Metrics}})
{{- end}}
{{- end}}
