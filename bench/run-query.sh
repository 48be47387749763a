#!/usr/bin/env bash
# Query benchmark: RED for one service over 7 and 30 days from weir's tiers (rollup.Querier),
# for services sending 1M, 10M and 100M spans a week, against the same numbers computed from
# raw spans. Builds weir, creates a database of its own with `weir schema --apply`, then runs
# bench/query, which loads the spans server-side, fills red_1m, runs rollup.Job, checks every
# tier against the raw spans, times the ways in interleaved rounds and drops the database.
#
# Usage: bench/run-query.sh [bench/query flags...]
#   bench/run-query.sh                             # 1M, 10M, 100M + 20 x 1M spans/week, 9 rounds
#   bench/run-query.sh -scales 1M,10M -others 5    # a quicker run
#   bench/run-query.sh -keep                       # keep the database; then -reuse to time again
# Environment: WEIR_CLICKHOUSE_ENDPOINT (tcp://127.0.0.1:19000), WEIR_BENCH_DB
# (weir_bench_query_<pid>; set it with -keep/-reuse to time a kept database again).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENDPOINT="${WEIR_CLICKHOUSE_ENDPOINT:-tcp://127.0.0.1:19000}"
DB="${WEIR_BENCH_DB:-weir_bench_query_$$}"
KEEP=0
for a in "$@"; do [[ "$a" == -keep || "$a" == --keep || "$a" == -reuse || "$a" == --reuse ]] && KEEP=1; done

echo "== disk"
df -h "$ROOT"
# ClickHouse keeps its data under .weir when scripts/clickhouse.sh started it from this tree;
# a server started from another checkout usually shares the file system.
data_dir="$ROOT/.weir"
[[ -d "$data_dir" ]] || data_dir="$ROOT"
avail_kb="$(df -Pk "$data_dir" | awk 'NR==2 {print $4}')"
# bench/query compares this with what its flags need, before it loads anything.

echo "== build"
(cd "$ROOT" && go build -o bin/weir ./cmd/weir)
(cd "$ROOT/bench" && go build -o "$ROOT/bin/weir-bench-query" ./query)

cleanup() {
	if [[ $KEEP == 0 ]]; then
		"$ROOT/scripts/clickhouse.sh" client --query "DROP DATABASE IF EXISTS $DB" || true
	fi
}
trap cleanup EXIT

echo "== schema ($DB)"
"$ROOT/bin/weir" schema --endpoint "$ENDPOINT" --database "$DB" --apply

echo "== run"
"$ROOT/bin/weir-bench-query" -endpoint "$ENDPOINT" -database "$DB" -free-kb "${avail_kb:-0}" "$@"
