{{- /* weir itself: per second, the delta sums of counters (.Metrics) split by a label
(.Label, an SQL expression over the row, named .Name). */ -}}
SELECT toDateTime(intDiv(toUInt32(Timestamp), {{step}}) * {{step}}) AS time,
       {{.Label}} AS {{.Name}},
       sum(Sum) / {{step}} AS rate
FROM (
{{template "self_tiers" .}}
)
GROUP BY time, {{.Name}}
ORDER BY time, {{.Name}}
