{{- /* Cost efficiency: per service over the days of the range: spend, its share of the whole
bill, requests, spend per 1000 requests and the share of failed requests (NULL without
requests). */ -}}
SELECT Service AS service,
       sum(Spend) AS spend,
       spend / (SELECT sum(Spend) FROM {{db}}.service_cost_1d WHERE {{template "cost_days"}}) AS share_of_bill,
       sum(Requests) AS requests,
       if(requests > 0, spend / requests * 1000, NULL) AS cost_per_1k,
       if(requests > 0, sum(Errors) / requests, NULL) AS error_rate,
       any(Currency) AS currency
FROM {{db}}.service_cost_1d
WHERE {{template "cost_days"}}
  AND Service IN (${service:singlequote})
GROUP BY service
ORDER BY spend DESC, service
