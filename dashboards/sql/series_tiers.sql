{{- /* The metric series rows a metrics panel reads: series_1m, series_1h and series_1d, each
bounded by the tier plan of tier_plan.sql (.Pred), so that each minute of the range is read
from one tier, the way rollup.PlanQuery stitches the RED tiers. Filtered by the service,
metric and attribute variables. */ -}}
{{define "series_filter" -}}
ServiceName IN (${service:singlequote}) AND MetricName = ${metric:singlequote}
      AND ('__all__' IN (${attr_value:singlequote}) OR AttributeValues[indexOf(AttributeKeys, ${attr_key:singlequote})] IN (${attr_value:singlequote}))
{{- end}}
{{define "series_tiers" -}}
    SELECT Timestamp, SeriesHash, AttributeKeys, AttributeValues, Count, Sum, Min, Max, Last, LastTimeUnixNano
    FROM {{db}}.series_1m
    WHERE {{.Pred.Minute}}
      AND {{template "series_filter"}}
    UNION ALL
    SELECT Timestamp, SeriesHash, AttributeKeys, AttributeValues, Count, Sum, Min, Max, Last, LastTimeUnixNano
    FROM {{db}}.series_1h
    WHERE {{.Pred.Hour}}
      AND {{template "series_filter"}}
    UNION ALL
    SELECT Timestamp, SeriesHash, AttributeKeys, AttributeValues, Count, Sum, Min, Max, Last, LastTimeUnixNano
    FROM {{db}}.series_1d
    WHERE {{.Pred.Day}}
      AND {{template "series_filter"}}
{{- end}}
