{{- /* Variable service (cost efficiency): the services with spend on a day of the range or a
hotspot in a week of it, "(unmapped)" and "(idle)" included. */ -}}
SELECT DISTINCT service FROM (
    SELECT Service AS service FROM {{db}}.service_cost_1d WHERE {{template "cost_days"}}
    UNION ALL
    SELECT Service AS service FROM {{db}}.hotspots WHERE {{template "cost_weeks"}} AND Service != ''
)
ORDER BY service
