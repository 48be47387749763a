#!/usr/bin/env bash
# `make run`: start weir against the local ClickHouse, fill it with the demo shop's two
# weeks (once per database and week), write the weekly report, print where it is and the top
# hotspots, and keep weir running for real traffic until Ctrl-C. weir is stopped whenever
# this script ends, however it ends.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${WEIR_HOME:=$PWD/.weir}"
: "${WEIR_CLICKHOUSE_DATABASE:=weir}"
export WEIR_CLICKHOUSE_DATABASE
grpc="${WEIR_OTLP_GRPC_ENDPOINT:-0.0.0.0:4317}"
health="${WEIR_HEALTH_ENDPOINT:-127.0.0.1:13133}"
demo_dir="$WEIR_HOME/demo/$WEIR_CLICKHOUSE_DATABASE"
mkdir -p "$demo_dir"

# healthy: weir's health_check answers 200. Plain bash (/dev/tcp), since a fresh Debian
# machine need not have curl.
healthy() {
	(
		host="${health%:*}" port="${health##*:}" status=""
		exec 3<>"/dev/tcp/$host/$port" || exit 1
		printf 'GET / HTTP/1.0\r\nHost: %s\r\n\r\n' "$health" >&3
		read -r -t 5 status <&3 || true
		[[ "$status" == HTTP/*" 200"* ]]
	) 2>/dev/null
}

# Another weir (an earlier `make run` left behind, say) would answer the health check in
# this one's place and hold its ports.
if healthy; then
	echo "something already answers weir's health check on $health: stop that weir first" >&2
	exit 1
fi

bin/weir --config config/weir.yaml >"$WEIR_HOME/weir.log" 2>&1 &
weir_pid=$!
# SIGTERM: a background job of a non-interactive shell ignores SIGINT.
stop() { kill -TERM "$weir_pid" 2>/dev/null || true; wait "$weir_pid" 2>/dev/null || true; }
trap stop EXIT
trap 'exit 130' INT TERM

up=
for _ in $(seq 1 60); do
	if ! kill -0 "$weir_pid" 2>/dev/null; then
		echo "weir exited; the end of its log ($WEIR_HOME/weir.log):" >&2
		tail -n 40 "$WEIR_HOME/weir.log" >&2
		exit 1
	fi
	if healthy; then
		up=1
		break
	fi
	sleep 1
done
if [[ -z "$up" ]]; then
	echo "weir did not become healthy on $health within 60 s; see $WEIR_HOME/weir.log" >&2
	exit 1
fi
echo "weir is running (pid $weir_pid; log $WEIR_HOME/weir.log): OTLP gRPC $grpc, HTTP ${WEIR_OTLP_HTTP_ENDPOINT:-0.0.0.0:4318}"

week="$(bin/weir report --print-week)"
if [[ -f "$demo_dir/truth.json" ]] && grep -q "\"week\": \"$week\"" "$demo_dir/truth.json"; then
	echo "demo: the shop's weeks are already in database $WEIR_CLICKHOUSE_DATABASE ($demo_dir/truth.json); not sending them again"
elif ! bin/weir demo --otlp-endpoint "${grpc/0.0.0.0/127.0.0.1}" --dir "$demo_dir" --week "$week"; then
	echo "demo: not sent (see above; a database holding an earlier demo's weeks refuses a new one:" \
		"set WEIR_CLICKHOUSE_DATABASE to a fresh one); the report covers what the database holds"
fi

rules=()
if [[ -f "$demo_dir/costmap.yaml" ]]; then
	rules=(--rules "$demo_dir/costmap.yaml")
fi
report="$WEIR_HOME/report-$week.html"
bin/weir report --week "$week" "${rules[@]}" --format html --out "$report"
bin/weir report --week "$week" "${rules[@]}" --format md --store=false --out "$WEIR_HOME/report-$week.md"
echo
echo "Weekly report of $week: $report (Markdown: $WEIR_HOME/report-$week.md)"
echo "Top hotspots:"
awk '/^\| # \| Rule/{on=1; next} on && /^\|---/{next} on && /^\|/{print "  " $0; n++} on && !/^\|/{exit} n==6{exit}' "$WEIR_HOME/report-$week.md"
echo
echo "weir keeps running for your own traffic (OTLP gRPC $grpc). Ctrl-C stops it."
wait "$weir_pid"
