{{- /* Cost efficiency: spend per service and day (the bill's currency; a day's rows of every
service, "(unmapped)" and "(idle)" included, add up to the bill). */ -}}
SELECT toDateTime(toUInt32(toUInt16(Date)) * 86400) AS time,
       Service AS service,
       sum(Spend) AS spend
FROM {{db}}.service_cost_1d
WHERE {{template "cost_days"}}
  AND Service IN (${service:singlequote})
GROUP BY time, service
ORDER BY time, service
