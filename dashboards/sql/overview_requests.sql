{{- /* Service overview: requests per second per service, one point per bucket.
.RED is the tier-aware RED query grouped by service. */ -}}
SELECT bucket AS time, service, requests / {{step}} AS rps
FROM (
{{.RED}}
)
ORDER BY time, service
