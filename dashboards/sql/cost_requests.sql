{{- /* Cost efficiency: requests per service and day (SERVER and CONSUMER spans, counted before
sampling). The pseudo-services serve none. */ -}}
SELECT toDateTime(toUInt32(toUInt16(Date)) * 86400) AS time,
       Service AS service,
       sum(Requests) AS requests
FROM {{db}}.service_cost_1d
WHERE {{template "cost_days"}}
  AND Service IN (${service:singlequote}) AND Service NOT IN {{template "cost_unattributed"}}
GROUP BY time, service
ORDER BY time, service
