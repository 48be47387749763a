{{- /* Service overview: failed requests (status error) per second per service.
.RED is the tier-aware RED query grouped by service. */ -}}
SELECT bucket AS time, service, errors / {{step}} AS errors_per_second
FROM (
{{.RED}}
)
ORDER BY time, service
