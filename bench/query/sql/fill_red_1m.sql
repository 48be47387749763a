-- fill_red_1m: what weir_red would have written for the spans of [From, To): one row per
-- minute and series, requests counted, durations in the scale-6 exponential histogram
-- (bucket i holds (2^(i/64), 2^((i+1)/64)] ns, the index weir_red's bucketIndex computes).
INSERT INTO {{.DB}}.red_1m (Timestamp, ServiceName, SpanName, SpanKind, StatusCode, DimKeys, DimValues,
                            Requests, DurationSumNano, ZeroCount, BucketIndexes, BucketCounts)
SELECT toStartOfMinute(Timestamp) AS minute, ServiceName, SpanName, SpanKind, StatusCode,
       emptyArrayString(), emptyArrayString(),
       count(), sum(toFloat64(DurationNano)), countIf(DurationNano <= 0),
       (sumMap(idx, one) AS buckets).1, buckets.2
FROM (
    SELECT Timestamp, ServiceName, SpanName, SpanKind, StatusCode, DurationNano,
           if(DurationNano > 0, [toInt32(ceil(log2(DurationNano) * 64)) - 1], emptyArrayInt32()) AS idx,
           if(DurationNano > 0, [toUInt64(1)], emptyArrayUInt64()) AS one
    FROM {{.DB}}.spans
    WHERE Timestamp >= toDateTime({{.From}}) AND Timestamp < toDateTime({{.To}})
)
GROUP BY minute, ServiceName, SpanName, SpanKind, StatusCode
