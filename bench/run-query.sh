#!/usr/bin/env bash
# Query benchmark: "7 days of RED for one service" from weir's hourly tier (rollup.Querier)
# against the same numbers computed from raw spans. Builds weir, creates a database of its
# own with `weir schema --apply`, then runs bench/query, which loads the spans server-side,
# fills red_1m, runs rollup.Job, checks, times and drops the database.
#
# Usage: bench/run-query.sh [bench/query flags...]
#   bench/run-query.sh                          # 50M spans, 7 days, 50 services, 9 reps
#   bench/run-query.sh -spans 2000000 -reps 5   # a quick run
#   bench/run-query.sh -keep                    # keep the database; then -reuse to time again
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
if [[ -n "$avail_kb" && "$avail_kb" -lt $((8 * 1024 * 1024)) ]]; then
	echo "run-query.sh: less than 8 GiB free for ClickHouse's data; 50M spans take about 3 GiB" >&2
	exit 1
fi

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
"$ROOT/bin/weir-bench-query" -endpoint "$ENDPOINT" -database "$DB" "$@"
