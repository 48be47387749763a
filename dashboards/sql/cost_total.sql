{{- /* Cost efficiency: the selected services' spend over the days of the range, per currency. */ -}}
SELECT Currency AS currency,
       sum(Spend) AS spend
FROM {{db}}.service_cost_1d
WHERE {{template "cost_days"}}
  AND Service IN (${service:singlequote})
GROUP BY currency
ORDER BY currency
