{{- /* Cost efficiency: the findings of the latest report week that overlaps the range, of the
selected services, by estimated weekly cost impact. example_trace_id is the first example
trace (32 hex digits; the panel links it to the Traces dashboard), more_trace_ids the rest. */ -}}
SELECT Week AS week,
       Rank AS rank,
       Severity AS severity,
       Rule AS rule,
       Service AS service,
       Operation AS operation,
       ImpactPerWeek AS impact_per_week,
       Currency AS currency,
       AvoidableCallsPerWeek AS avoidable_calls_per_week,
       CostPerCall AS cost_per_call,
       Recommendation AS recommendation,
       ExampleTraceIds[1] AS example_trace_id,
       arrayStringConcat(arraySlice(ExampleTraceIds, 2), ' ') AS more_trace_ids,
       Evidence AS evidence
FROM {{db}}.hotspots
WHERE Week = (SELECT max(Week) FROM {{db}}.hotspots WHERE {{template "cost_weeks"}})
  AND Service IN (${service:singlequote})
ORDER BY impact_per_week DESC, rank
