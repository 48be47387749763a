{{- /* Metrics explorer: the metric's delta sums per second (counters, histogram sums), summed
over the series with each value of attr_key. */ -}}
SELECT toDateTime(intDiv(toUInt32(Timestamp), {{step}}) * {{step}}) AS time,
       AttributeValues[indexOf(AttributeKeys, ${attr_key:singlequote})] AS attribute,
       sum(Sum) / {{step}} AS rate
FROM (
{{template "series_tiers" .}}
)
GROUP BY time, attribute
ORDER BY time, attribute
