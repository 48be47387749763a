{{- /* The metric series rows a metrics panel reads: one sub-select per series tier, each
bounded by rollup's tier plan (.Tiers, rollup.PanelTiers), so that each minute of the range is
read from one tier, the tier rollup.PlanQuery would read it from. Filtered by the service,
metric and attribute variables. */ -}}
{{define "series_filter" -}}
ServiceName IN (${service:singlequote}) AND MetricName = ${metric:singlequote}
      AND ('__all__' IN (${attr_value:singlequote}) OR AttributeValues[indexOf(AttributeKeys, ${attr_key:singlequote})] IN (${attr_value:singlequote}))
{{- end}}
{{define "series_tiers" -}}
{{- range $i, $t := .Tiers}}{{if $i}}
    UNION ALL{{end}}
    SELECT Timestamp, SeriesHash, AttributeKeys, AttributeValues, Count, Sum, Min, Max, Last, LastTimeUnixNano
    FROM {{db}}.{{$t.Table}}
    WHERE {{$t.Where}}
      AND {{template "series_filter"}}
{{- end}}
{{- end}}
