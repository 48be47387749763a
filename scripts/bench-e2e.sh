#!/usr/bin/env bash
# End-to-end benchmark: weirload -> weir (config/weir.yaml) -> the local ClickHouse.
#
# Usage: scripts/bench-e2e.sh [RESULTS_FILE]
#
# For each rate in WEIR_BENCH_RATES (default "50000 max"; "max" sends as fast as weirload's
# workers go) it starts a fresh weir (so its peak RSS, VmHWM, belongs to that rate alone) with
# its own database, sends telemetrygen-shaped spans for WEIR_BENCH_DURATION seconds (default
# 30), waits until every acknowledged span is in ClickHouse and the server's merges have
# settled, and measures:
#   - weir's and the ClickHouse server's CPU (utime+stime from /proc/PID/stat) over that
#     window, per 1M spans written;
#   - weir's peak RSS (VmHWM);
#   - bytes on disk per span of the spans table (active parts), before and after
#     OPTIMIZE TABLE ... FINAL, and of trace_index, which every span insert also feeds.
# Baseline, in the same run: the same rows exported in arrival order with SELECT ... FORMAT
# Native and inserted again with clickhouse-client into (a) a bare copy of the spans table,
# and (b) a database with weir's full schema, followed by one INSERT ... SELECT that builds
# trace_index from those spans (weir's exporter writes the index itself, per block, since
# schema version 7). The server CPU of each (inserts plus merges) is the floor weir's path
# is compared with.
#
# The ClickHouse server is shared: other work on it shows up in its CPU. The server's CPU over
# an idle stretch before each load is reported as well, to judge that noise; it is not
# subtracted from anything.
#
# The markdown table goes to stdout and to RESULTS_FILE (default: bench-results.md in a new
# temporary directory). Everything this script starts it stops, and it drops the databases it
# creates. The ClickHouse server is started if needed (scripts/clickhouse.sh start) and left
# running.
#
# Tail sampling: config/weir.yaml keeps a baseline share of traces (WEIR_SAMPLING_BASELINE,
# 0.1 by default). This script sets it to WEIR_BENCH_SAMPLING, 1 by default, so that every
# span is written and the write path is measured whole (the sampler still runs and holds
# traces until they are decided). With a lower share, the script waits until the row count
# stops growing instead of for every acknowledged span.
#
# Environment: WEIR_BENCH_RATES, WEIR_BENCH_DURATION, WEIR_BENCH_WORKERS (4),
# WEIR_BENCH_SAMPLING (1),
# WEIR_BENCH_BATCH (512), WEIR_BENCH_KEEP_TMP=1 to keep the logs,
# WEIR_BENCH_CONFIG_EXTRA=FILE to merge one more collector YAML over config/weir.yaml (for
# experiments such as larger batches; the table then says so),
# WEIR_CLICKHOUSE_TCP_PORT (19000), WEIR_HOME (scripts/clickhouse.sh's).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
# shellcheck source=scripts/benchlib.sh
source "$REPO_ROOT/scripts/benchlib.sh"

RATES="${WEIR_BENCH_RATES:-50000 max}"
DURATION="${WEIR_BENCH_DURATION:-30}"
WORKERS="${WEIR_BENCH_WORKERS:-4}"
BATCH="${WEIR_BENCH_BATCH:-512}"
CH_PORT="${WEIR_CLICKHOUSE_TCP_PORT:-19000}"
CH_HOME="${WEIR_HOME:-$REPO_ROOT/.weir/clickhouse}"
CONFIG_EXTRA="${WEIR_BENCH_CONFIG_EXTRA:-}"
if [[ -n "$CONFIG_EXTRA" ]]; then
	[[ -r "$CONFIG_EXTRA" ]] || { echo "bench-e2e: cannot read WEIR_BENCH_CONFIG_EXTRA=$CONFIG_EXTRA" >&2; exit 1; }
	CONFIG_EXTRA="$(cd "$(dirname "$CONFIG_EXTRA")" && pwd)/$(basename "$CONFIG_EXTRA")"
fi
SAMPLING="${WEIR_BENCH_SAMPLING:-1}"
IDLE_SECONDS=5
DRAIN_TIMEOUT=300
STABLE_SECONDS=20 # the row count has stopped growing when it did not change for this long
MERGE_TIMEOUT=120

# Targets (see BENCHMARKS.md).
TARGET_WEIR_CPU=1.0 # weir CPU-s per 1M spans at 50k spans/s
TARGET_CH_RATIO=1.1 # ClickHouse CPU, weir path / Native-file baseline (full schema)
TARGET_BYTES=40     # bytes on disk per span (spans table)
TARGET_RSS=200      # weir peak RSS, MiB

TS="$(date -u +%Y%m%d%H%M%S)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/weir-bench.XXXXXX")"
RESULTS="${1:-$WORK/bench-results.md}"
CLK_TCK="$(getconf CLK_TCK)"

log() { printf 'bench-e2e: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

WEIR_PID=""
DATABASES=()

cleanup() {
	local rc=$?
	stop_weir || true
	local db
	for db in "${DATABASES[@]}"; do
		chq "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || log "could not drop database $db"
	done
	if [[ "${WEIR_BENCH_KEEP_TMP:-0}" == 1 || $rc -ne 0 ]]; then
		rm -f "$WORK"/*/spans.native
		log "logs kept in $WORK"
	else
		find "$WORK" -mindepth 1 -maxdepth 1 ! -name "$(basename "$RESULTS")" -exec rm -rf {} +
		rmdir "$WORK" 2>/dev/null || true
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

chq() { clickhouse-client --host 127.0.0.1 --port "$CH_PORT" -q "$1"; }

# cpu_ticks PID: utime+stime of PID in clock ticks. The fields are counted after the ")" that
# ends the command name, which may itself hold spaces.
clickhouse_pid() {
	local pid=""
	if [[ -f "$CH_HOME/clickhouse-server.pid" ]]; then
		pid="$(tr -dc '0-9' <"$CH_HOME/clickhouse-server.pid")"
	fi
	if [[ -z "$pid" || ! -r "/proc/$pid/stat" ]]; then
		# Not started by scripts/clickhouse.sh: find who listens on the port.
		pid="$(ss -ltnpH "sport = :$CH_PORT" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true)"
	fi
	[[ -n "$pid" && -r "/proc/$pid/stat" ]] || return 1
	echo "$pid"
}

# wait_merges DB: until the server runs no merge for DB (checked twice, 1 s apart).
wait_merges() {
	local db="$1" deadline=$((SECONDS + MERGE_TIMEOUT)) quiet=0
	while ((SECONDS < deadline)); do
		if [[ "$(chq "SELECT count() FROM system.merges WHERE database = '$db'")" == 0 ]]; then
			quiet=$((quiet + 1))
			((quiet >= 2)) && return 0
		else
			quiet=0
		fi
		sleep 1
	done
	log "merges in $db still running after ${MERGE_TIMEOUT}s; measuring anyway"
}

# disk DB TABLE: bytes on disk of TABLE's active parts, and their count.
disk_bytes() {
	chq "SELECT sum(bytes_on_disk) FROM system.parts WHERE database = '$1' AND table = '$2' AND active"
}
disk_parts() {
	chq "SELECT count() FROM system.parts WHERE database = '$1' AND table = '$2' AND active"
}
# part_history DB TABLE: "parts made by INSERTs / parts made by merges", counting the
# inactive parts the server still keeps (old_parts_lifetime is 8 minutes by default).
part_history() {
	chq "SELECT concat(toString(countIf(level = 0)), ' / ', toString(countIf(level > 0))) FROM system.parts WHERE database = '$1' AND table = '$2'"
}

start_weir() {
	local dir="$1" db="$2"
	local grpc http health prom
	grpc="$(free_port)"
	http="$(free_port)"
	health="$(free_port)"
	prom="$(free_port)"
	# config/weir.yaml as it is, plus an override for the two ports it fixes (health_check on
	# 13133, the collector's own metrics on 8888), which may be taken on a shared machine.
	# The collector merges the files in order.
	cat >"$dir/override.yaml" <<EOF
extensions:
  health_check:
    endpoint: 127.0.0.1:$health
service:
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: $prom
EOF
	local configs=(--config config/weir.yaml --config "$dir/override.yaml")
	if [[ -n "$CONFIG_EXTRA" ]]; then
		configs+=(--config "$CONFIG_EXTRA")
	fi
	WEIR_CLICKHOUSE_ENDPOINT="tcp://127.0.0.1:$CH_PORT" \
		WEIR_CLICKHOUSE_DATABASE="$db" \
		WEIR_OTLP_GRPC_ENDPOINT="127.0.0.1:$grpc" \
		WEIR_OTLP_HTTP_ENDPOINT="127.0.0.1:$http" \
		WEIR_QUEUE_DIR="$dir/queue" \
		WEIR_SAMPLING_BASELINE="$SAMPLING" \
		setsid bin/weir "${configs[@]}" \
		</dev/null >"$dir/weir.log" 2>&1 &
	WEIR_PID=$!
	GRPC_ADDR="127.0.0.1:$grpc"
	PROM_ADDR="127.0.0.1:$prom"
	local deadline=$((SECONDS + 60))
	until curl -fsS "http://127.0.0.1:$health/" >/dev/null 2>&1; do
		if ! kill -0 "$WEIR_PID" 2>/dev/null; then
			tail -n 30 "$dir/weir.log" >&2
			die "weir exited during start (log above)"
		fi
		((SECONDS < deadline)) || die "weir did not become healthy within 60s (log: $dir/weir.log)"
		sleep 0.2
	done
}

stop_weir() {
	[[ -n "$WEIR_PID" ]] || return 0
	local pid="$WEIR_PID"
	WEIR_PID=""
	stop_pid "$pid" weir 30
}


# baseline NAME DB SRC_DB NATIVE_FILE: create DB (bare copy or full schema), insert the
# Native file, wait for merges; sets BASE_CPU (server CPU-s) and BASE_WALL.
baseline() {
	local kind="$1" db="$2" src="$3" file="$4" t0 w0
	DATABASES+=("$db")
	if [[ "$kind" == plain ]]; then
		chq "CREATE DATABASE $db"
		chq "CREATE TABLE $db.spans AS $src.spans"
	else
		bin/weir schema --apply --endpoint "tcp://127.0.0.1:$CH_PORT" --database "$db" >/dev/null 2>&1 ||
			die "weir schema --apply --database $db failed"
	fi
	t0="$(cpu_ticks "$CH_PID")"
	w0="$(date +%s.%N)"
	chq "INSERT INTO $db.spans FORMAT Native" <"$file"
	if [[ "$kind" != plain ]]; then
		# The index weir writes with every block, built here in one pass: the floor for it.
		chq "INSERT INTO $db.trace_index (TraceId, Day, StartUnixNano, EndUnixNano, Services, SpanCount)
			SELECT TraceId, toDate(Timestamp), minState(StartTimeUnixNano),
			       maxState(toUInt64(StartTimeUnixNano + DurationNano)), groupUniqArrayState(toString(ServiceName)), countState()
			FROM $db.spans GROUP BY TraceId, toDate(Timestamp)"
	fi
	wait_merges "$db"
	BASE_PARTS="$(part_history "$db" spans)"
	BASE_CPU="$(calc "($(cpu_ticks "$CH_PID") - $t0) / $CLK_TCK" %.12g)"
	BASE_WALL="$(calc "$(date +%s.%N) - $w0" %.1f)"
}

# --- build and server --------------------------------------------------------------------
log "building bin/weir and bin/weirload"
go build -o bin/weir ./cmd/weir
(cd bench && go build -o ../bin/weirload ./cmd/weirload)
scripts/clickhouse.sh start >&2
CH_PID="$(clickhouse_pid)" || die "cannot find the ClickHouse server's pid (port $CH_PORT)"
CH_VERSION="$(chq 'SELECT version()')"
log "ClickHouse $CH_VERSION, pid $CH_PID; work dir $WORK"

declare -A R # R[<rate>,<metric>]
LABELS=()

run_rate() {
	local rate="$1" label="$1" wl_rate="$1"
	if [[ "$rate" == max ]]; then
		wl_rate=0
	fi
	local dir="$WORK/$label" db="weir_bench_${TS}_${label}"
	mkdir -p "$dir"
	DATABASES+=("$db")
	LABELS+=("$label")
	log "[$label] starting weir, database $db"
	start_weir "$dir" "$db"

	# Noise on the shared server before the load.
	local c0 c1
	c0="$(cpu_ticks "$CH_PID")"
	sleep "$IDLE_SECONDS"
	c1="$(cpu_ticks "$CH_PID")"
	R[$label,ch_idle]="$(calc "($c1 - $c0) / $CLK_TCK / $IDLE_SECONDS")"

	local w0 ch0 t0 out
	w0="$(cpu_ticks "$WEIR_PID")"
	ch0="$(cpu_ticks "$CH_PID")"
	t0="$(date +%s.%N)"
	log "[$label] weirload -rate $wl_rate for ${DURATION}s"
	out="$(/usr/bin/time -f 'weirload_cpu=%U+%S' -o "$dir/weirload.time" \
		bin/weirload -endpoint "$GRPC_ADDR" -rate "$wl_rate" -duration "${DURATION}s" \
		-batch "$BATCH" -workers "$WORKERS" -report 0 2>"$dir/weirload.log")" ||
		die "weirload failed: $(tail -n 5 "$dir/weirload.log")"
	local t_load_end acked
	t_load_end="$(date +%s.%N)"
	log "[$label] $out"
	acked="$(kv "$out" spans_acked)"
	R[$label,acked]="$acked"
	R[$label,rate]="$(calc "$(kv "$out" rate_achieved)" %.0f)"
	R[$label,errors]="$(kv "$out" errors) ($(kv "$out" error_codes))"
	R[$label,sent]="$(kv "$out" spans_sent)"
	local wl_cpu
	wl_cpu="$(sed -n 's/^weirload_cpu=//p' "$dir/weirload.time")"

	# Every acknowledged span that the sampler keeps must reach ClickHouse: wait for all of
	# them, or until the count has not grown for STABLE_SECONDS; then let merges settle.
	local rows=0 last=-1 changed=$SECONDS t_last_row deadline=$((SECONDS + DRAIN_TIMEOUT))
	t_last_row="$(date +%s.%N)"
	while ((SECONDS < deadline)); do
		rows="$(chq "SELECT count() FROM $db.spans")"
		if ((rows != last)); then
			last=$rows changed=$SECONDS
			t_last_row="$(date +%s.%N)"
		fi
		((rows >= acked)) && break
		((SECONDS - changed >= STABLE_SECONDS)) && break
		kill -0 "$WEIR_PID" 2>/dev/null || die "weir exited while draining (log: $dir/weir.log)"
		sleep 0.5
	done
	R[$label,drain]="$(calc "$t_last_row - $t_load_end" %.1f)"
	if ((rows < acked)); then
		log "[$label] $rows of $acked acknowledged spans are in ClickHouse (sampling share $SAMPLING)"
	fi
	wait_merges "$db"
	local w1 ch1 t1
	w1="$(cpu_ticks "$WEIR_PID")"
	ch1="$(cpu_ticks "$CH_PID")"
	t1="$(date +%s.%N)"
	rows="$(chq "SELECT count() FROM $db.spans")"
	R[$label,rows]="$rows"
	local m=$((rows > 0 ? rows : 1)) a=$((acked > 0 ? acked : 1))
	R[$label,window]="$(calc "$t1 - $t0" %.1f)"
	# weir's CPU is per span it took in (acknowledged); the server's per span written.
	R[$label,weir_cpu]="$(calc "($w1 - $w0) / $CLK_TCK / $a * 1e6")"
	R[$label,weir_cpu_raw]="$(calc "($w1 - $w0) / $CLK_TCK / $a * 1e6" %.12g)"
	R[$label,weir_cpu_offered]="$(calc "($w1 - $w0) / $CLK_TCK / ${R[$label,sent]} * 1e6")"
	R[$label,ch_cpu_s]="$(calc "($ch1 - $ch0) / $CLK_TCK")"
	R[$label,ch_cpu]="$(calc "($ch1 - $ch0) / $CLK_TCK / $m * 1e6")"
	CH_CPU_RAW="$(calc "($ch1 - $ch0) / $CLK_TCK / $m * 1e6" %.12g)"
	R[$label,ch_idle_share]="$(calc "${R[$label,ch_idle]} * ($t1 - $t0) / $m * 1e6")"
	R[$label,wl_cpu]="$(calc "($wl_cpu) / ${R[$label,sent]} * 1e6")"
	local hwm
	hwm="$(awk '/^VmHWM:/ {print $2}' "/proc/$WEIR_PID/status")"
	R[$label,rss]="$(calc "$hwm / 1024" %.0f)"
	R[$label,rss_raw]="$(calc "$hwm / 1024" %.12g)"
	curl -fsS "http://$PROM_ADDR/metrics" >"$dir/weir-metrics.txt" 2>/dev/null || true
	R[$label,refused]="$(awk '/^otelcol_receiver_refused_spans/ {s += $2} END {printf "%d", s}' "$dir/weir-metrics.txt")"
	R[$label,parts]="$(disk_parts "$db" spans)"
	R[$label,history]="$(part_history "$db" spans)"
	R[$label,columns]="$(chq "SELECT arrayStringConcat(groupArray(concat(name, ' ', toString(round(data_compressed_bytes / $m, 1)))), ', ') FROM (SELECT name, data_compressed_bytes FROM system.columns WHERE database = '$db' AND table = 'spans' ORDER BY data_compressed_bytes DESC LIMIT 5)")"
	local bytes
	bytes="$(disk_bytes "$db" spans)"
	R[$label,bytes]="$(calc "$bytes / $m" %.1f)"
	R[$label,bytes_raw]="$(calc "$bytes / $m" %.12g)"
	R[$label,ti_bytes]="$(calc "$(disk_bytes "$db" trace_index) / $m" %.1f)"
	stop_weir

	log "[$label] OPTIMIZE TABLE $db.spans FINAL"
	chq "OPTIMIZE TABLE $db.spans FINAL"
	chq "OPTIMIZE TABLE $db.trace_index FINAL"
	bytes="$(disk_bytes "$db" spans)"
	R[$label,bytes_opt]="$(calc "$bytes / $m" %.1f)"
	R[$label,bytes_opt_raw]="$(calc "$bytes / $m" %.12g)"
	R[$label,ti_bytes_opt]="$(calc "$(disk_bytes "$db" trace_index) / $m" %.1f)"

	log "[$label] baseline: the same $rows rows from a Native file"
	# In arrival order (the spans are stamped when weirload builds them), as weir sent them:
	# the table's own order would spare the server the sort that weir's inserts cost it.
	chq "SELECT * FROM $db.spans ORDER BY StartTimeUnixNano FORMAT Native" >"$dir/spans.native"
	R[$label,native_mb]="$(calc "$(stat -c %s "$dir/spans.native") / 1048576" %.0f)"
	baseline plain "${db}_bp" "$db" "$dir/spans.native"
	R[$label,base_plain]="$(calc "$BASE_CPU / $m * 1e6")"
	BASE_PLAIN_RAW="$(calc "$BASE_CPU / $m * 1e6" %.12g)"
	R[$label,base_plain_wall]="$BASE_WALL"
	R[$label,base_plain_parts]="$BASE_PARTS"
	baseline mv "${db}_bm" "$db" "$dir/spans.native"
	R[$label,base_mv]="$(calc "$BASE_CPU / $m * 1e6")"
	BASE_MV_RAW="$(calc "$BASE_CPU / $m * 1e6" %.12g)"
	R[$label,base_mv_wall]="$BASE_WALL"
	R[$label,base_mv_parts]="$BASE_PARTS"
	rm -f "$dir/spans.native"
	R[$label,ratio_mv]="$(calc "$BASE_MV_RAW > 0 ? $CH_CPU_RAW / $BASE_MV_RAW : -1" %.2f)"
	R[$label,ratio_mv_raw]="$(calc "$BASE_MV_RAW > 0 ? $CH_CPU_RAW / $BASE_MV_RAW : -1" %.12g)"
	R[$label,ratio_plain]="$(calc "$BASE_PLAIN_RAW > 0 ? $CH_CPU_RAW / $BASE_PLAIN_RAW : -1" %.2f)"
	for d in "$db" "${db}_bp" "${db}_bm"; do
		chq "DROP DATABASE IF EXISTS $d"
	done
}

for rate in $RATES; do
	run_rate "$rate"
done

# --- report --------------------------------------------------------------------------------
# verdict VALUE LIMIT: "met" when VALUE <= LIMIT; VALUE is the unrounded figure (KEY_raw).
verdict() { awk "BEGIN { if (($1) <= ($2)) print \"met\"; else print \"NOT met\" }"; }

for l in "${LABELS[@]}"; do
	R[$l,counts]="${R[$l,sent]} / ${R[$l,acked]} / ${R[$l,rows]}"
	R[$l,ti]="${R[$l,ti_bytes]} / ${R[$l,ti_bytes_opt]}"
	R[$l,base_wall]="${R[$l,base_mv_wall]} / ${R[$l,base_plain_wall]}"
	R[$l,base_parts]="${R[$l,base_mv_parts]}"
done

# row TITLE TARGET KEY [LIMIT]: one table row, a cell per rate; with LIMIT, each cell says
# whether it is within the target.
row() {
	local line="| $1 | $2 |" l v
	for l in "${LABELS[@]}"; do
		v="${R[$l,$3]}"
		if [[ -n "${4:-}" ]]; then
			v="$v ($(verdict "${R[$l,$3_raw]:-$v}" "$4"))"
		fi
		line+=" $v |"
	done
	echo "$line"
}

report() {
	echo "## weir end to end, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), ClickHouse $CH_VERSION" \
		"(shared server). weirload: ${DURATION} s, $BATCH spans per request, $WORKERS workers," \
		"telemetrygen-shaped spans. weir: config/weir.yaml${CONFIG_EXTRA:+ merged with $CONFIG_EXTRA}," \
		"tail-sampling baseline share $SAMPLING. weir's CPU is per 1M spans received, the server's" \
		"per 1M spans written."
	if [[ "$SAMPLING" != 1 ]]; then
		echo
		echo "With a sampling share below 1 the server's CPU per span written also carries what weir" \
			"writes for every span received (the RED tiers), so its ratio to the baseline is not" \
			"comparable with a full-write run."
	fi
	echo
	local header="| | target |" sep="|---|---|" l
	for l in "${LABELS[@]}"; do
		header+=" $l |"
		sep+="---|"
	done
	echo "$header"
	echo "$sep"
	row "achieved rate, acked spans/s" "" rate
	row "spans sent / acked / in ClickHouse" "" counts
	row "errors at weirload (gRPC codes)" "" errors
	row "spans refused by weir's receiver" "" refused
	row "last row arrived, s after the load ended" "" drain
	row "**weir CPU-s per 1M spans received (acked)**" "≤ $TARGET_WEIR_CPU at 50k/s" weir_cpu "$TARGET_WEIR_CPU"
	row "weir CPU-s per 1M spans offered (refused ones included)" "" weir_cpu_offered
	row "**weir peak RSS (VmHWM), MiB**" "≤ $TARGET_RSS" rss "$TARGET_RSS"
	row "ClickHouse CPU-s per 1M spans, weir path" "" ch_cpu
	row "... of it idle-server noise (estimate, not subtracted)" "" ch_idle_share
	row "ClickHouse CPU-s per 1M, Native file, full schema (baseline)" "" base_mv
	row "ClickHouse CPU-s per 1M, Native file, bare table" "" base_plain
	row "**ClickHouse CPU ratio, weir path / baseline**" "≤ $TARGET_CH_RATIO" ratio_mv "$TARGET_CH_RATIO"
	row "ClickHouse CPU ratio, weir path / bare-table baseline" "" ratio_plain
	row "baseline wall time, s (full schema / bare)" "" base_wall
	row "**spans: bytes on disk per span**" "≤ $TARGET_BYTES" bytes "$TARGET_BYTES"
	row "**spans: bytes per span after OPTIMIZE FINAL**" "≤ $TARGET_BYTES" bytes_opt "$TARGET_BYTES"
	row "spans: largest columns, compressed B/span" "" columns
	row "spans: active parts before OPTIMIZE" "" parts
	row "spans: parts made by INSERTs / by merges, weir path" "" history
	row "spans: parts made by INSERTs / by merges, baseline" "" base_parts
	row "trace_index: bytes per span (before / after OPTIMIZE)" "" ti
	row "Native file of the rows, MiB" "" native_mb
	row "weirload CPU-s per 1M spans sent (same cores)" "" wl_cpu
	row "measurement window, s" "" window
}

mkdir -p "$(dirname "$RESULTS")"
report | tee "$RESULTS"
log "results written to $RESULTS"
