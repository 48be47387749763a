-- exact_red: requests, errors and exact p50/p95/p99 per hour of one service in [From, To), to
-- check the tiers against: the ceil(q*n)-th smallest duration, the rank that
-- model.Distribution.Quantile picks (quantilesExact would take the next one when q*n is
-- whole). It keeps every duration of an hour, so callers ask for a day at a time. (No lambda:
-- 18.16 loses a subquery's column that only a lambda reads.)
SELECT h, requests, errors,
       [toFloat64(sorted[toUInt64(greatest(1, ceil(0.5 * requests)))]),
        toFloat64(sorted[toUInt64(greatest(1, ceil(0.95 * requests)))]),
        toFloat64(sorted[toUInt64(greatest(1, ceil(0.99 * requests)))])] AS q
FROM (
    SELECT toDateTime(intDiv(toUInt32(Timestamp), 3600) * 3600) AS h,
           count() AS requests,
           countIf(StatusCode = 2) AS errors,
           arraySort(groupArray(DurationNano)) AS sorted
    FROM {{.DB}}.spans
    WHERE ServiceName = ? AND Timestamp >= toDateTime({{.From}}) AND Timestamp < toDateTime({{.To}})
    GROUP BY h
)
ORDER BY h
