{{- /* Cost efficiency: the spend no costmap rule gave a service ("(unmapped)" and "(idle)") over
the days of the range, and its share of the bill, per currency. Not filtered by service: it
belongs to none. */ -}}
SELECT Currency AS currency,
       sumIf(Spend, Service IN {{template "cost_unattributed"}}) AS unattributed,
       unattributed / sum(Spend) AS share
FROM {{db}}.service_cost_1d
WHERE {{template "cost_days"}}
GROUP BY currency
ORDER BY currency
