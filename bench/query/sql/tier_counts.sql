-- tier_counts: requests and errors per window of Width seconds of one service in [From, To)
-- from one tier ({{.Table}}), or from raw spans when Table is spans.
SELECT toDateTime(intDiv(toUInt32(Timestamp), {{.Width}}) * {{.Width}}) AS w,
       {{if eq .Table "spans"}}count(){{else}}sum(Requests){{end}} AS requests,
       {{.Errors}} AS errors
FROM {{.DB}}.{{.Table}}
WHERE ServiceName = ? AND Timestamp >= toDateTime({{.From}}) AND Timestamp < toDateTime({{.To}})
GROUP BY w
ORDER BY w
