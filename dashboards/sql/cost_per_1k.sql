{{- /* Cost efficiency: spend per 1000 requests per service and day; days without requests
have no value. */ -}}
SELECT toDateTime(toUInt32(toUInt16(Date)) * 86400) AS time,
       Service AS service,
       sum(Spend) / sum(Requests) * 1000 AS cost_per_1k
FROM {{db}}.service_cost_1d
WHERE {{template "cost_days"}}
  AND Service IN (${service:singlequote})
GROUP BY time, service
HAVING sum(Requests) > 0
ORDER BY time, service
