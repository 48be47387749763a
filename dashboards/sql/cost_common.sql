{{- /* Cost efficiency: the rows of the analyzer's tables that overlap the dashboard's range.
service_cost_1d has a row per service and UTC day (Date), hotspots a row per finding and
ISO week (Week, its Monday). A day counts when any part of it is in [$__fromTime, $__toTime);
the day number of a Date (toUInt16) times 86400 is its start in epoch seconds, whatever the
server's time zone. The Date bounds first let ClickHouse skip partitions and granules. */ -}}
{{define "cost_days" -}}
Date >= toDate($__fromTime) - 1 AND Date <= toDate($__toTime) + 1
  AND toUInt32(toUInt16(Date)) * 86400 < toUInt32($__toTime)
  AND toUInt32(toUInt16(Date)) * 86400 + 86400 > toUInt32($__fromTime)
{{- end}}
{{define "cost_weeks" -}}
Week >= toDate($__fromTime) - 7 AND Week <= toDate($__toTime) + 1
  AND toUInt32(toUInt16(Week)) * 86400 < toUInt32($__toTime)
  AND toUInt32(toUInt16(Week)) * 86400 + 7 * 86400 > toUInt32($__fromTime)
{{- end}}
{{- /* The pseudo-services that carry the spend no costmap rule gave a service. */ -}}
{{define "cost_unattributed"}}('(unmapped)', '(idle)'){{end}}
