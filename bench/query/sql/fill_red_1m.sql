-- fill_red_1m: what weir_red would have written for the spans of [From, To): one row per
-- minute and series, requests counted, durations in the scale-6 exponential histogram
-- (bucket i holds (2^(i/64), 2^((i+1)/64)] ns, the index weir_red's bucketIndex computes),
-- buckets sorted. Counting per bucket with a plain GROUP BY and collecting the buckets after
-- is several times faster on 18.16 than sumMap over one-element arrays per span.
-- -2147483648 marks zero durations, which weir_red counts in ZeroCount.
INSERT INTO {{.DB}}.red_1m (Timestamp, ServiceName, SpanName, SpanKind, StatusCode, DimKeys, DimValues,
                            Requests, DurationSumNano, ZeroCount, BucketIndexes, BucketCounts)
SELECT minute, ServiceName, SpanName, SpanKind, StatusCode, emptyArrayString(), emptyArrayString(),
       sum(n), sum(ds), sumIf(n, idx = -2147483648),
       arraySort(groupArrayIf(idx, idx != -2147483648)),
       arraySort((c, i) -> i, groupArrayIf(n, idx != -2147483648), groupArrayIf(idx, idx != -2147483648))
FROM (
    SELECT toStartOfMinute(Timestamp) AS minute, ServiceName, SpanName, SpanKind, StatusCode,
           if(DurationNano > 0, toInt32(ceil(log2(DurationNano) * 64)) - 1, toInt32(-2147483648)) AS idx,
           count() AS n, sum(toFloat64(DurationNano)) AS ds
    FROM {{.DB}}.spans
    WHERE Timestamp >= toDateTime({{.From}}) AND Timestamp < toDateTime({{.To}})
    GROUP BY minute, ServiceName, SpanName, SpanKind, StatusCode, idx
)
GROUP BY minute, ServiceName, SpanName, SpanKind, StatusCode
