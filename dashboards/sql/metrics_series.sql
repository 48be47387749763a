{{- /* Metrics explorer: one row per series over the whole range: its attributes, points,
delta sum, extremes and latest value. */ -}}
SELECT arrayStringConcat(arrayMap((k, v) -> concat(k, '=', v), any(AttributeKeys), any(AttributeValues)), ', ') AS attributes,
       sum(Count) AS points,
       sum(Sum) AS total,
       min(Min) AS minimum,
       max(Max) AS maximum,
       argMax(Last, LastTimeUnixNano) AS last
FROM (
{{template "series_tiers" .}}
)
GROUP BY SeriesHash
ORDER BY attributes
