{{- /* weir itself: the largest exporter queue size reading per bucket (a gauge read every
export interval), per exporter and signal. */ -}}
SELECT toDateTime(intDiv(toUInt32(Timestamp), {{step}}) * {{step}}) AS time,
       concat(AttributeValues[indexOf(AttributeKeys, 'exporter')], ' ', AttributeValues[indexOf(AttributeKeys, 'data_type')]) AS queue,
       max(Max) AS size
FROM (
{{template "self_tiers" .}}
)
GROUP BY time, queue
ORDER BY time, queue
