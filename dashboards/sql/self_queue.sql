{{- /* weir itself: the largest reading per bucket of the rows waiting for ClickHouse (a gauge
read every export interval), per weir instance. */ -}}
SELECT toDateTime(intDiv(toUInt32(Timestamp), {{step}}) * {{step}}) AS time,
       MetricName AS queue,
       max(Max) AS size
FROM (
{{template "self_tiers" .}}
)
GROUP BY time, queue
ORDER BY time, queue
