{{- /* Metrics explorer: the mean point value (gauges: the mean; delta sums: the mean delta) per
bucket, over the series with each value of attr_key. */ -}}
SELECT toDateTime(intDiv(toUInt32(Timestamp), {{step}}) * {{step}}) AS time,
       AttributeValues[indexOf(AttributeKeys, ${attr_key:singlequote})] AS attribute,
       sum(Sum) / sum(Count) AS mean
FROM (
{{template "series_tiers" .}}
)
GROUP BY time, attribute
ORDER BY time, attribute
