{{- /*
Tier choice at query time: the rule of rollup.PlanQuery (rollup/SCHEMA.md, "Reading the tiers"),
evaluated by ClickHouse from the panel's range and interval, since a dashboard's SQL is fixed
text and Grafana fills in the range.

  step  = $__interval_s rounded up to whole minutes (at least 60 s): the bucket width.
  top   = 1d when the step is whole days and the server's days start on epoch multiples of a
          day at both ends of the range; else 1h under the same test for hours; else 1m.
  spans = what each coarse tier holds: its first and last window, from system.parts
          (min_time, max_time of the active parts: metadata only, as Querier.Availability).

The day tier serves [d_a, d_b): the whole days of the range it holds. The hour tier serves its
whole hours of the rest, left of d_a and right of d_b; the minute tier serves what remains.
Unused intervals are empty ([hi, hi)). So every minute of [$__fromTime, $__toTime) is read
from exactly one tier, as in PlanQuery, and stitched totals equal the minute tier's.

"plan" is a one-row SELECT of lo, hi (the range in epoch seconds) and the coarse intervals
d_a_on, d_b_on, hl_a_on, hl_b_on, hr_a_on, hr_b_on. Each tier's predicate turns it into the
set of window starts that tier serves and reads Timestamp IN that set: one subquery per tier,
run once, whose set also prunes parts and granules. (A scalar subquery referenced through an
alias would be copied, and run, at every reference on 18.16.) Rows are keyed by their window
start, as every tier writes them (rollup/SCHEMA.md).
Data: .Database (the database, inside a string literal), .Hour and .Day (the coarse tables).
*/ -}}
{{define "plan" -}}
SELECT lo, hi, d_a_on, d_b_on,
           if(hl_on, hl_a, hi) AS hl_a_on, if(hl_on, hl_b, hi) AS hl_b_on,
           if(hr_on, hr_a, hi) AS hr_a_on, if(hr_on, hr_b, hi) AS hr_b_on
    FROM (
        SELECT toUInt64(toUInt32($__fromTime)) AS lo,
               toUInt64(toUInt32($__toTime)) AS hi,
               greatest(60, intDiv($__interval_s + 59, 60) * 60) AS step,
               step % 3600 = 0 AND toUInt32(toStartOfHour($__fromTime)) % 3600 = 0 AND toUInt32(toStartOfHour($__toTime)) % 3600 = 0 AS use_h,
               use_h AND step % 86400 = 0 AND toUInt32(toStartOfDay($__fromTime)) % 86400 = 0 AND toUInt32(toStartOfDay($__toTime)) % 86400 = 0 AS use_d,
               countIf(table = '{{.Hour}}') AS h_parts,
               toUInt64(toUInt32(toStartOfHour(minIf(min_time, table = '{{.Hour}}')))) AS h_from,
               toUInt64(toUInt32(toStartOfHour(maxIf(max_time, table = '{{.Hour}}')))) + 3600 AS h_to,
               countIf(table = '{{.Day}}') AS d_parts,
               toUInt64(toUInt32(toStartOfDay(minIf(min_time, table = '{{.Day}}')))) AS d_from,
               toUInt64(toUInt32(toStartOfDay(maxIf(max_time, table = '{{.Day}}')))) + 86400 AS d_to,
               greatest(intDiv(lo + 86399, 86400) * 86400, d_from) AS d_a,
               least(intDiv(hi, 86400) * 86400, d_to) AS d_b,
               use_d AND d_parts > 0 AND d_a < d_b AS d_on,
               if(d_on, d_a, hi) AS d_a_on,
               if(d_on, d_b, hi) AS d_b_on,
               greatest(intDiv(lo + 3599, 3600) * 3600, h_from) AS hl_a,
               least(intDiv(d_a_on, 3600) * 3600, h_to) AS hl_b,
               greatest(intDiv(d_b_on + 3599, 3600) * 3600, h_from) AS hr_a,
               least(intDiv(hi, 3600) * 3600, h_to) AS hr_b,
               use_h AND h_parts > 0 AND hl_a < hl_b AS hl_on,
               use_h AND h_parts > 0 AND hr_a < hr_b AS hr_on
        FROM system.parts
        WHERE database = '{{.Database}}' AND active AND rows > 0 AND table IN ('{{.Hour}}', '{{.Day}}')
    )
{{- end}}

{{- /* The rows of the day tier that the plan reads: the days of [d_a, d_b). */ -}}
{{define "day" -}}
Timestamp >= toStartOfDay($__fromTime) AND Timestamp < $__toTime
      AND Timestamp IN (
          SELECT toDateTime(arrayJoin(arrayMap(i -> d_a_on + i * 86400, range(toUInt32(intDiv(d_b_on - d_a_on, 86400))))))
          FROM ({{template "plan" .}}))
{{- end}}

{{- /* The rows of the hour tier that the plan reads: the hours of [hl_a, hl_b) and [hr_a, hr_b). */ -}}
{{define "hour" -}}
Timestamp >= toStartOfHour($__fromTime) AND Timestamp < $__toTime
      AND Timestamp IN (
          SELECT toDateTime(arrayJoin(arrayConcat(
                     arrayMap(i -> hl_a_on + i * 3600, range(toUInt32(intDiv(hl_b_on - hl_a_on, 3600)))),
                     arrayMap(i -> hr_a_on + i * 3600, range(toUInt32(intDiv(hr_b_on - hr_a_on, 3600)))))))
          FROM ({{template "plan" .}}))
{{- end}}

{{- /* The rows of the minute tier that the plan reads: the minutes of the range outside the coarse
intervals, which cut it into at most four pieces. */ -}}
{{define "minute" -}}
Timestamp >= $__fromTime AND Timestamp < $__toTime
      AND Timestamp IN (
          SELECT toDateTime(piece_from + i * 60) FROM (
              SELECT intDiv(a + 59, 60) * 60 AS piece_from, b AS piece_to FROM (
                  SELECT [lo, tupleElement(iv[1], 2), tupleElement(iv[2], 2), tupleElement(iv[3], 2)] AS starts,
                         [tupleElement(iv[1], 1), tupleElement(iv[2], 1), tupleElement(iv[3], 1), hi] AS ends
                  FROM (
                      SELECT lo, hi, arraySort([(d_a_on, d_b_on), (hl_a_on, hl_b_on), (hr_a_on, hr_b_on)]) AS iv
                      FROM ({{template "plan" .}})))
              ARRAY JOIN starts AS a, ends AS b)
          ARRAY JOIN range(toUInt32(if(piece_to > piece_from, intDiv(piece_to - piece_from + 59, 60), 0))) AS i)
{{- end}}
