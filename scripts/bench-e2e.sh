#!/usr/bin/env bash
# End-to-end benchmark: weirload -> weir (config/weir.yaml) -> the local ClickHouse, against
# the stock collector (otlp receiver -> batch processor -> nop exporter, bench/cmd/nopcollector)
# on the same load in the same run.
#
# Usage: scripts/bench-e2e.sh [RESULTS_FILE]
#
# It measures what issues 11 ("Ingest at a collector's cost") and 16 ("Metrics at a
# collector's cost too") ask, in one run. Each run below starts a fresh process (so its peak
# RSS, VmHWM, is that run's alone), weir with its own database (weir schema --apply), journal
# directory and free ports, and with the copy of config/weir.yaml taken when bin/weir was
# built:
#
#   traces at WEIR_BENCH_RATE spans/s (50000) for WEIR_BENCH_DURATION s (30):
#     nop       the stock collector
#     shipped   weir with config/weir.yaml as shipped (tail sampling keeps a 0.1 baseline)
#     keep-all  weir keeping every span (WEIR_SAMPLING_BASELINE=1); then the same rows are
#               exported with SELECT ... FORMAT Native (in arrival order) and inserted again
#               with clickhouse-client into a database with weir's full schema, plus one
#               INSERT ... SELECT that builds trace_index: the server's CPU for that (inserts
#               plus merges; three times, the median) is the floor weir's writes are
#               compared with
#   metrics at WEIR_BENCH_RATE points/s for WEIR_BENCH_METRICS_DURATION s (20):
#     nop, and weir as shipped (weirload -signal metrics: a fixed set of series, the five
#     point types in turn, cumulative ones starting when weirload starts, so the delta stage
#     keeps every point)
#   traces at full load (weirload -rate 0) for WEIR_BENCH_DURATION s:
#     nop, shipped and keep-all
#
# Load: OTLP gRPC from bin/weirload, WEIR_BENCH_BATCH (512) spans or points per request,
# traces of WEIR_BENCH_TRACE_SPANS (10) spans, WEIR_BENCH_WORKERS (8) workers (enough that the
# offered rate holds while weir takes tens of ms to acknowledge), on the same two cores as
# everything else (weirload's own CPU is reported).
#
# CPU is utime+stime from /proc/PID/stat. The nop collector's is counted over the load
# window. weir's is counted over the load and the drain, since sending to ClickHouse is part
# of its work: the drain ends when every acknowledged span is in ClickHouse (keep-all), when
# the spans table holds as many spans as the sampler kept once it has decided every span it
# acknowledged (shipped; read from weir's own metrics), when the metric tables hold every
# acknowledged point (metrics), or else when the count has not grown for STABLE_SECONDS.
# Per span (point) means per span acknowledged to weirload. The ClickHouse server's CPU over
# 5 idle seconds before and after the keep-all load is reported to judge the noise on it (not
# subtracted; the details give the ratio with it taken off both sides as a second opinion).
#
# Everything is a ratio against the peer (or the baseline) in the same run, or an absolute
# figure (RSS, CPU-s per 1M) set against its target; the machine is small and shared, so
# compare runs by their ratios. The markdown table goes to stdout and to RESULTS_FILE
# (default: bench-results.md in a new temporary directory), followed by one line of
# key=value pairs for scripts ("bench-e2e-result: ..."). Everything this script starts it
# stops, and it drops the databases it creates.
#
# ClickHouse: by default the script starts a server of its own (scripts/clickhouse.sh with
# WEIR_HOME in its work directory and free ports) and stops it at the end, so that the
# server's CPU is weir's writes alone: the project-local server is shared with other
# sessions' tests, which can keep it busier than the benchmark does. With
# WEIR_BENCH_CLICKHOUSE=shared it uses the project-local server instead (started if needed
# and left running; WEIR_CLICKHOUSE_TCP_PORT, WEIR_CLICKHOUSE_HTTP_PORT, WEIR_HOME), and the
# idle-noise rows tell how much others weighed.
#
# Spans lost across a ClickHouse outage or a stop and restart are not measured here; the
# table names the tests that check them.
#
# Environment: WEIR_BENCH_RATE (50000), WEIR_BENCH_DURATION (30), WEIR_BENCH_METRICS_DURATION
# (20), WEIR_BENCH_PARTS ("rate metrics max": which of the three groups above to run),
# WEIR_BENCH_WORKERS (8), WEIR_BENCH_BATCH (512), WEIR_BENCH_TRACE_SPANS (10),
# WEIR_MEMORY_LIMIT_MIB (1024, passed to weir; the full-load RSS target is 1.25x it),
# WEIR_BENCH_KEEP_TMP=1 to keep the logs, WEIR_BENCH_CONFIG_EXTRA=FILE to merge one more
# collector YAML over config/weir.yaml for every weir run (the table says so),
# WEIR_BENCH_WEIR_GOGC=N to run weir (only weir) with GOGC=N,
# WEIR_BENCH_CLICKHOUSE (private or shared, see above).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
# shellcheck source=scripts/benchlib.sh
source "$REPO_ROOT/scripts/benchlib.sh"

RATE="${WEIR_BENCH_RATE:-50000}"
DURATION="${WEIR_BENCH_DURATION:-30}"
M_DURATION="${WEIR_BENCH_METRICS_DURATION:-20}"
PARTS="${WEIR_BENCH_PARTS:-rate metrics max}"
WORKERS="${WEIR_BENCH_WORKERS:-8}"
BATCH="${WEIR_BENCH_BATCH:-512}"
TRACE_SPANS="${WEIR_BENCH_TRACE_SPANS:-10}"
LIMIT_MIB="${WEIR_MEMORY_LIMIT_MIB:-1024}"
CH_MODE="${WEIR_BENCH_CLICKHOUSE:-private}"
CH_PORT="${WEIR_CLICKHOUSE_TCP_PORT:-19000}"
CH_HTTP_PORT="${WEIR_CLICKHOUSE_HTTP_PORT:-18123}"
CH_HOME="${WEIR_HOME:-$REPO_ROOT/.weir/clickhouse}"
[[ "$CH_MODE" == private || "$CH_MODE" == shared ]] ||
	{ echo "bench-e2e: WEIR_BENCH_CLICKHOUSE must be private or shared, got '$CH_MODE'" >&2; exit 1; }
CONFIG_EXTRA="${WEIR_BENCH_CONFIG_EXTRA:-}"
if [[ -n "$CONFIG_EXTRA" ]]; then
	[[ -r "$CONFIG_EXTRA" ]] || { echo "bench-e2e: cannot read WEIR_BENCH_CONFIG_EXTRA=$CONFIG_EXTRA" >&2; exit 1; }
	CONFIG_EXTRA="$(cd "$(dirname "$CONFIG_EXTRA")" && pwd)/$(basename "$CONFIG_EXTRA")"
fi
for v in RATE DURATION M_DURATION WORKERS BATCH TRACE_SPANS LIMIT_MIB; do
	[[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "bench-e2e: $v must be a positive integer, got '${!v}'" >&2; exit 1; }
done
for p in $PARTS; do
	[[ "$p" == rate || "$p" == metrics || "$p" == max ]] ||
		{ echo "bench-e2e: WEIR_BENCH_PARTS: unknown part '$p' (use rate, metrics, max)" >&2; exit 1; }
done
IDLE_SECONDS=5
DRAIN_TIMEOUT=300
STABLE_SECONDS=20 # the row count has stopped growing when it did not change for this long
MERGE_TIMEOUT=120
METRICS_SERVICE=weirload # service.name of the metrics load, to tell it from weir's own metrics

# Targets (issues 11 and 16).
T_SHIPPED_CPU_RATIO=1.0  # weir CPU per span ÷ the nop collector's, shipped config, at RATE
T_SHIPPED_RSS=256        # MiB
T_KEEPALL_CPU=4.0        # CPU-s per 1M spans, keep-all, at RATE
T_KEEPALL_RSS=512        # MiB
T_MAX_RATE=500000        # spans/s accepted at full load, shipped config
T_MAX_RSS="$(calc "1.25 * $LIMIT_MIB" %.0f)" # MiB, full load, any config
T_CH_RATIO=1.1           # ClickHouse CPU, weir's writes ÷ the Native-file insert
T_METRICS_CPU_RATIO=1.0  # weir CPU per point ÷ the nop collector's
T_METRICS_RSS=192        # MiB

TS="$(date -u +%Y%m%d%H%M%S)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/weir-bench.XXXXXX")"
RESULTS="${1:-$WORK/bench-results.md}"
CLK_TCK="$(getconf CLK_TCK)"
STARTED=$SECONDS

log() { printf 'bench-e2e: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

PID=""        # the collector (weir or nop) of the current run
PID_NAME=""
DATABASES=()  # every database this script created
CH_STARTED="" # set when this script starts the (private) ClickHouse server

cleanup() {
	local rc=$?
	stop_collector || true
	local db
	for db in "${DATABASES[@]}"; do
		chq "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || log "could not drop database $db"
	done
	if [[ -n "$CH_STARTED" ]]; then
		clickhouse_sh stop >&2 || log "could not stop the private ClickHouse server (WEIR_HOME=$CH_HOME)"
	fi
	if [[ "${WEIR_BENCH_KEEP_TMP:-0}" == 1 || $rc -ne 0 ]]; then
		rm -rf "$WORK"/*/spans.native "$WORK"/*/journal
		log "logs kept in $WORK"
	else
		find "$WORK" -mindepth 1 -maxdepth 1 ! -name "$(basename "$RESULTS")" -exec rm -rf {} +
		rmdir "$WORK" 2>/dev/null || true
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

has_part() { [[ " $PARTS " == *" $1 "* ]]; }

chq() { clickhouse-client --host 127.0.0.1 --port "$CH_PORT" -q "$1"; }

# clickhouse_sh ARGS: scripts/clickhouse.sh for the server this script uses.
clickhouse_sh() {
	WEIR_HOME="$CH_HOME" WEIR_CLICKHOUSE_TCP_PORT="$CH_PORT" WEIR_CLICKHOUSE_HTTP_PORT="$CH_HTTP_PORT" \
		scripts/clickhouse.sh "$@"
}

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

# part_history DB TABLE: "parts made by INSERTs / parts made by merges", counting the
# inactive parts the server still keeps (old_parts_lifetime is 8 minutes by default).
part_history() {
	chq "SELECT concat(toString(countIf(level = 0)), ' / ', toString(countIf(level > 0))) FROM system.parts WHERE database = '$1' AND table = '$2'"
}

# exited DIR: why weir (log DIR/weir.log) is gone, as far as its log tells.
exited() {
	if grep -q 'Received signal from OS' "$1/weir.log"; then
		echo "weir was stopped by a signal this script did not send, $(grep -o '"signal": "[a-z]*"' "$1/weir.log" | tail -1) (log: $1/weir.log)"
	else
		echo "weir exited (log: $1/weir.log)"
	fi
}

# rss_mib PID: the peak RSS (VmHWM) of PID, MiB.
rss_mib() { awk '/^VmHWM:/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

stop_collector() {
	[[ -n "$PID" ]] || return 0
	local pid="$PID"
	PID=""
	stop_pid "$pid" "$PID_NAME" 30
}

# wait_ready DIR NAME HEALTH_URL GRPC_PORT: until the collector answers HEALTH_URL (or, without
# one, its metrics endpoint) and accepts connections on its gRPC port.
wait_ready() {
	local dir="$1" name="$2" url="$3" grpc="$4" deadline=$((SECONDS + 60))
	until curl -fsS "$url" >/dev/null 2>&1 && wait_tcp 127.0.0.1 "$grpc"; do
		if ! kill -0 "$PID" 2>/dev/null; then
			tail -n 30 "$dir/$name.log" >&2
			die "$name exited during start (log above)"
		fi
		((SECONDS < deadline)) || die "$name did not become ready within 60s (log: $dir/$name.log)"
		sleep 0.2
	done
}

# start_nop DIR: the stock collector, otlp -> batch -> nop for traces and metrics.
start_nop() {
	local dir="$1" grpc prom
	grpc="$(free_port)"
	prom="$(free_port)"
	cat >"$dir/nop.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$grpc
processors:
  batch: {}
exporters:
  nop: {}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [nop]}
    metrics: {receivers: [otlp], processors: [batch], exporters: [nop]}
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: $prom
EOF
	setsid bin/nopcollector --config "$dir/nop.yaml" </dev/null >"$dir/nop.log" 2>&1 &
	PID=$! PID_NAME=nop
	GRPC_ADDR="127.0.0.1:$grpc"
	PROM_URL="http://127.0.0.1:$prom/metrics"
	wait_ready "$dir" nop "$PROM_URL" "$grpc"
}

# start_weir DIR DB SAMPLING: weir with config/weir.yaml (and CONFIG_EXTRA), its own
# database (created here with the current schema), journal and ports.
start_weir() {
	local dir="$1" db="$2" sampling="$3" grpc http health prom
	DATABASES+=("$db")
	bin/weir schema --apply --endpoint "tcp://127.0.0.1:$CH_PORT" --database "$db" >"$dir/schema.log" 2>&1 ||
		die "weir schema --apply --database $db failed: $(tail -n 3 "$dir/schema.log")"
	grpc="$(free_port)"
	http="$(free_port)"
	health="$(free_port)"
	prom="$(free_port)"
	local configs=(--config "$WORK/weir.yaml")
	if [[ -n "$CONFIG_EXTRA" ]]; then
		configs+=(--config "$CONFIG_EXTRA")
	fi
	WEIR_CLICKHOUSE_ENDPOINT="tcp://127.0.0.1:$CH_PORT" \
		WEIR_CLICKHOUSE_HTTP_ENDPOINT="http://127.0.0.1:$CH_HTTP_PORT" \
		WEIR_CLICKHOUSE_DATABASE="$db" \
		WEIR_OTLP_GRPC_ENDPOINT="127.0.0.1:$grpc" \
		WEIR_OTLP_HTTP_ENDPOINT="127.0.0.1:$http" \
		WEIR_HEALTH_ENDPOINT="127.0.0.1:$health" \
		WEIR_METRICS_HOST=127.0.0.1 \
		WEIR_METRICS_PORT="$prom" \
		WEIR_JOURNAL_DIR="$dir/journal" \
		WEIR_SAMPLING_BASELINE="$sampling" \
		WEIR_MEMORY_LIMIT_MIB="$LIMIT_MIB" \
		env ${WEIR_BENCH_WEIR_GOGC:+GOGC="$WEIR_BENCH_WEIR_GOGC"} \
		setsid bin/weir "${configs[@]}" </dev/null >"$dir/weir.log" 2>&1 &
	PID=$! PID_NAME=weir
	GRPC_ADDR="127.0.0.1:$grpc"
	PROM_URL="http://127.0.0.1:$prom/metrics"
	wait_ready "$dir" weir "http://127.0.0.1:$health/" "$grpc"
}

# scrape DIR: the collector's own metrics into DIR/metrics.txt.
scrape() { curl -fsS "$PROM_URL" >"$1/metrics.txt" 2>/dev/null || : >"$1/metrics.txt"; }

# load DIR LABEL SIGNAL RATE SECONDS: runs weirload against GRPC_ADDR and records its summary
# in R[LABEL,*]: sent, acked, rate (achieved), errors, wl_cpu (weirload's CPU-s).
load() {
	local dir="$1" label="$2" signal="$3" rate="$4" secs="$5" wl_rate="$4" unit=spans out
	[[ "$rate" == max ]] && wl_rate=0
	[[ "$signal" == metrics ]] && unit=points
	local args=(-signal "$signal" -endpoint "$GRPC_ADDR" -rate "$wl_rate" -duration "${secs}s"
		-batch "$BATCH" -workers "$WORKERS" -report 0)
	if [[ "$signal" == traces ]]; then
		args+=(-trace-spans "$TRACE_SPANS")
	else
		args+=(-service "$METRICS_SERVICE")
	fi
	log "[$label] weirload ${args[*]}"
	out="$(/usr/bin/time -f 'weirload_cpu=%U+%S' -o "$dir/weirload.time" \
		bin/weirload "${args[@]}" 2>"$dir/weirload.log")" ||
		die "[$label] weirload failed: $(tail -n 5 "$dir/weirload.log")"
	echo "$out" >"$dir/weirload.out"
	log "[$label] $out"
	R[$label,sent]="$(kv "$out" "${unit}_sent")"
	R[$label,acked]="$(kv "$out" "${unit}_acked")"
	R[$label,rate]="$(calc "$(kv "$out" rate_achieved)" %.0f)"
	R[$label,errors]="$(kv "$out" errors)"
	R[$label,error_codes]="$(kv "$out" error_codes)"
	R[$label,wl_cpu]="$(calc "($(sed -n 's/^weirload_cpu=//p' "$dir/weirload.time")) / ${R[$label,sent]} * 1e6")"
	R[$label,offered]="$rate"
	R[$label,signal]="$signal"
	[[ -n "${R[$label,acked]}" && "${R[$label,acked]}" -gt 0 ]] || die "[$label] nothing acknowledged: $out"
}

# run_nop LABEL SIGNAL RATE SECONDS: the stock collector, CPU over the load window.
run_nop() {
	local label="$1" signal="$2" rate="$3" secs="$4" dir="$WORK/$1"
	mkdir -p "$dir"
	LABELS+=("$label")
	R[$label,who]="stock collector (otlp -> batch -> nop)"
	log "[$label] starting the stock collector"
	start_nop "$dir"
	sleep 1 # let start-up settle before counting CPU
	local c0 c1 t0 t1
	c0="$(cpu_ticks "$PID")"
	t0="$(date +%s.%N)"
	load "$dir" "$label" "$signal" "$rate" "$secs"
	c1="$(cpu_ticks "$PID")"
	t1="$(date +%s.%N)"
	R[$label,rss]="$(rss_mib "$PID")"
	scrape "$dir"
	local name=otelcol_receiver_accepted_spans
	[[ "$signal" == metrics ]] && name=otelcol_receiver_accepted_metric_points
	R[$label,stored]="$(prom_sum "$dir/metrics.txt" "$name")" # what it took in (and dropped)
	R[$label,cpu_s]="$(calc "($c1 - $c0) / $CLK_TCK" %.2f)"
	R[$label,cpu]="$(calc "($c1 - $c0) / $CLK_TCK / ${R[$label,acked]} * 1e6" %.4f)"
	R[$label,window]="$(calc "$t1 - $t0" %.1f)"
	R[$label,drain]="-"
	stop_collector
}

# drain_traces LABEL DB KEEPALL: waits until the spans weir acknowledged and kept are in DB.spans
# (see the header); sets R[LABEL,stored], R[LABEL,kept] and T_DRAINED.
drain_traces() {
	local label="$1" db="$2" keepall="$3" dir="$WORK/$1"
	local acked="${R[$label,acked]}" target=-1 rows last=-1 changed=$SECONDS next_scrape=0
	local deadline=$((SECONDS + DRAIN_TIMEOUT))
	[[ "$keepall" == 1 ]] && target="$acked"
	T_DRAINED="$(date +%s.%N)"
	while :; do
		kill -0 "$PID" 2>/dev/null || die "[$label] $(exited "$dir")"
		rows="$(chq "SELECT count() FROM $db.spans")"
		if ((rows != last)); then
			last=$rows changed=$SECONDS
			T_DRAINED="$(date +%s.%N)"
		fi
		if ((target < 0 && SECONDS >= next_scrape)); then
			# Sampled: the target is known once the sampler has decided every span it took in.
			scrape "$dir"
			local accepted decided
			accepted="$(prom_sum "$dir/metrics.txt" otelcol_receiver_accepted_spans 'transport="grpc"')"
			decided="$(prom_sum "$dir/metrics.txt" weir_tailsampling_spans_decided)"
			if ((accepted > 0 && decided >= accepted)); then
				target="$(prom_sum "$dir/metrics.txt" weir_tailsampling_spans_decided 'decision="kept"')"
			fi
			next_scrape=$((SECONDS + 2))
		fi
		((target >= 0 && rows >= target)) && break
		if ((SECONDS - changed >= STABLE_SECONDS)); then
			log "[$label] the spans table stopped growing at $rows rows (target ${target/#-1/unknown})"
			break
		fi
		if ((SECONDS >= deadline)); then
			log "[$label] drain timed out after ${DRAIN_TIMEOUT}s at $rows rows (target ${target/#-1/unknown})"
			break
		fi
		sleep 0.5
	done
	R[$label,stored]="$rows"
	R[$label,kept]="$target"
}

# metric_points DB: the points of the metrics load in the five metric tables.
metric_points() {
	local q="SELECT" t sep=""
	for t in gauge sum histogram exponential_histogram summary; do
		q+="$sep (SELECT count() FROM $1.metrics_$t WHERE ServiceName = '$METRICS_SERVICE')"
		sep=" +"
	done
	chq "$q"
}

# drain_metrics LABEL DB: waits until every acknowledged point is in the metric tables and
# series_1m has counted them all (the sender inserts an epoch's series_1m block after its
# metric blocks, so the point count alone can be reached a few blocks early), or the counts
# stop growing; sets R[LABEL,stored] and T_DRAINED.
drain_metrics() {
	local label="$1" db="$2" dir="$WORK/$1"
	local acked="${R[$label,acked]}" rows series now last="" changed=$SECONDS deadline=$((SECONDS + DRAIN_TIMEOUT))
	T_DRAINED="$(date +%s.%N)"
	while :; do
		kill -0 "$PID" 2>/dev/null || die "[$label] $(exited "$dir")"
		rows="$(metric_points "$db")"
		series="$(chq "SELECT sum(Count) FROM $db.series_1m WHERE ServiceName = '$METRICS_SERVICE'")"
		now="$rows $series"
		if [[ "$now" != "$last" ]]; then
			last=$now changed=$SECONDS
			T_DRAINED="$(date +%s.%N)"
		fi
		((rows >= acked && series >= rows)) && break
		if ((SECONDS - changed >= STABLE_SECONDS)); then
			log "[$label] the metric tables stopped growing at $rows of $acked points ($series in series_1m)"
			break
		fi
		if ((SECONDS >= deadline)); then
			log "[$label] drain timed out after ${DRAIN_TIMEOUT}s at $rows of $acked points ($series in series_1m)"
			break
		fi
		sleep 0.5
	done
	R[$label,stored]="$rows"
}

# baseline LABEL DB FILE: a database with weir's full schema, FILE (the spans, Native) inserted
# with clickhouse-client, trace_index built from them, merges settled; sets BASE_CPU (the
# server's CPU-s) and BASE_WALL.
baseline() {
	local label="$1" db="$2" file="$3" t0 w0
	DATABASES+=("$db")
	bin/weir schema --apply --endpoint "tcp://127.0.0.1:$CH_PORT" --database "$db" >"$WORK/$label/schema-base.log" 2>&1 ||
		die "weir schema --apply --database $db failed"
	t0="$(cpu_ticks "$CH_PID")"
	w0="$(date +%s.%N)"
	chq "INSERT INTO $db.spans FORMAT Native" <"$file"
	# The index weir writes with every block, built here in one pass: the floor for it.
	chq "INSERT INTO $db.trace_index (TraceId, Day, StartUnixNano, EndUnixNano, Services, SpanCount)
		SELECT TraceId, toDate(Timestamp), minState(StartTimeUnixNano),
		       maxState(toUInt64(StartTimeUnixNano + DurationNano)), groupUniqArrayState(toString(ServiceName)), countState()
		FROM $db.spans GROUP BY TraceId, toDate(Timestamp)"
	wait_merges "$db"
	BASE_PARTS="$(part_history "$db" spans)"
	BASE_CPU="$(calc "($(cpu_ticks "$CH_PID") - $t0) / $CLK_TCK" %.12g)"
	BASE_WALL="$(calc "$(date +%s.%N) - $w0" %.1f)"
}

# run_weir LABEL SIGNAL RATE SECONDS SAMPLING [chratio]: weir, CPU over the load and the drain;
# with chratio, the ClickHouse server's CPU too, against the Native-file baseline.
run_weir() {
	local label="$1" signal="$2" rate="$3" secs="$4" sampling="$5" chratio="${6:-}"
	local dir="$WORK/$1" db="weir_bench_${TS}_${1//-/_}"
	mkdir -p "$dir"
	LABELS+=("$label")
	R[$label,who]="weir, sampling baseline $sampling"
	log "[$label] starting weir (sampling baseline $sampling), database $db"
	start_weir "$dir" "$db" "$sampling"
	if [[ -n "$chratio" ]]; then
		# Noise on the server before the load.
		local i0 i1
		i0="$(cpu_ticks "$CH_PID")"
		sleep "$IDLE_SECONDS"
		i1="$(cpu_ticks "$CH_PID")"
		R[$label,ch_idle]="$(calc "($i1 - $i0) / $CLK_TCK / $IDLE_SECONDS")"
	else
		sleep 1
	fi

	local c0 ch0 t0 t_load_end c1
	c0="$(cpu_ticks "$PID")"
	ch0="$(cpu_ticks "$CH_PID")"
	t0="$(date +%s.%N)"
	load "$dir" "$label" "$signal" "$rate" "$secs"
	t_load_end="$(date +%s.%N)"
	if [[ "$signal" == traces ]]; then
		local keepall=0
		[[ "$sampling" == 1 ]] && keepall=1
		drain_traces "$label" "$db" "$keepall"
	else
		drain_metrics "$label" "$db"
	fi
	c1="$(cpu_ticks "$PID")"
	R[$label,rss]="$(rss_mib "$PID")"
	R[$label,drain]="$(calc "$T_DRAINED - $t_load_end" %.1f)"
	R[$label,window]="$(calc "$(date +%s.%N) - $t0" %.1f)"
	R[$label,cpu_s]="$(calc "($c1 - $c0) / $CLK_TCK" %.2f)"
	R[$label,cpu]="$(calc "($c1 - $c0) / $CLK_TCK / ${R[$label,acked]} * 1e6" %.4f)"
	scrape "$dir"
	if [[ "$signal" == traces ]]; then
		R[$label,refused]="$(prom_sum "$dir/metrics.txt" otelcol_receiver_refused_spans)"
	else
		R[$label,refused]="$(prom_sum "$dir/metrics.txt" otelcol_receiver_refused_metric_points)"
		R[$label,dropped]="$(prom_sum "$dir/metrics.txt" weir_metrics_points_dropped)"
		# The series tier holds every stored point once, and the sums' deltas add up alike.
		R[$label,series_count]="$(chq "SELECT sum(Count) FROM $db.series_1m WHERE ServiceName = '$METRICS_SERVICE'")"
		R[$label,series_sum]="$(chq "SELECT sum(Sum) FROM $db.series_1m WHERE ServiceName = '$METRICS_SERVICE' AND MetricType = 2")"
		R[$label,raw_sum]="$(chq "SELECT sum(IntValue) FROM $db.metrics_sum WHERE ServiceName = '$METRICS_SERVICE'")"
		R[$label,by_type]="$(chq "SELECT arrayStringConcat(groupArray(toString(c)), ' / ') FROM (SELECT MetricType, sum(Count) AS c FROM $db.series_1m WHERE ServiceName = '$METRICS_SERVICE' GROUP BY MetricType ORDER BY MetricType)")"
	fi

	if [[ -n "$chratio" ]]; then
		wait_merges "$db"
		local ch1 rows="${R[$label,stored]}"
		ch1="$(cpu_ticks "$CH_PID")"
		local m=$((rows > 0 ? rows : 1)) t1
		t1="$(date +%s.%N)"
		R[$label,ch_cpu]="$(calc "($ch1 - $ch0) / $CLK_TCK / $m * 1e6")"
		R[$label,bytes]="$(calc "$(chq "SELECT sum(bytes_on_disk) FROM system.parts WHERE database = '$db' AND table = 'spans' AND active") / $m" %.1f)"
		R[$label,parts]="$(part_history "$db" spans)"
		R[$label,inserts]="$(prom_sum "$dir/metrics.txt" weir_clickhouse_insert_duration_count) ($(prom_sum "$dir/metrics.txt" weir_clickhouse_insert_duration_count 'table="spans"') into spans)"
		R[$label,ti_bytes]="$(calc "$(chq "SELECT sum(bytes_on_disk) FROM system.parts WHERE database = '$db' AND table = 'trace_index' AND active") / $m" %.1f)"
		stop_collector
		# Noise again, after the load, weir stopped: the estimate is the mean of the two.
		i0="$(cpu_ticks "$CH_PID")"
		sleep "$IDLE_SECONDS"
		i1="$(cpu_ticks "$CH_PID")"
		local noise
		noise="$(calc "(${R[$label,ch_idle]} + ($i1 - $i0) / $CLK_TCK / $IDLE_SECONDS) / 2" %.4f)"
		R[$label,ch_idle]="$noise"
		R[$label,ch_idle_share]="$(calc "$noise * ($t1 - $t0) / $m * 1e6")"
		log "[$label] baseline: the same $rows spans from a Native file"
		# In arrival order (the spans are stamped when weirload builds them), as weir sent them:
		# the table's own order would spare the server the sort that weir's inserts cost it.
		chq "SELECT * FROM $db.spans ORDER BY StartTimeUnixNano FORMAT Native" >"$dir/spans.native"
		# Three times, each into a database of its own, and the median taken: one insert of
		# a few CPU-s is swayed by whatever else the server and the machine do meanwhile (up
		# to 30 % between two inserts of the same file in one run).
		local b runs=()
		for b in 1 2 3; do
			baseline "$label" "${db}_base$b" "$dir/spans.native"
			runs+=("$BASE_CPU $BASE_WALL")
			R[$label,base_runs]+="${R[$label,base_runs]:+ / }$(calc "$BASE_CPU / $m * 1e6")"
		done
		read -r BASE_CPU BASE_WALL < <(printf '%s\n' "${runs[@]}" | sort -g | sed -n 2p)
		rm -f "$dir/spans.native"
		R[$label,base_cpu]="$(calc "$BASE_CPU / $m * 1e6")"
		R[$label,base_wall]="$BASE_WALL"
		R[$label,base_parts]="$BASE_PARTS"
		R[$label,ch_ratio]="$(calc "$BASE_CPU > 0 ? ($ch1 - $ch0) / $CLK_TCK / $BASE_CPU : -1" %.3f)"
		R[$label,base_idle_share]="$(calc "$noise * $BASE_WALL / $m * 1e6")"
		# The same with the noise estimate taken off both sides: a second opinion, not the verdict.
		R[$label,ch_ratio_net]="$(calc "$BASE_CPU - $noise * $BASE_WALL > 0 ? (($ch1 - $ch0) / $CLK_TCK - $noise * ($t1 - $t0)) / ($BASE_CPU - $noise * $BASE_WALL) : -1" %.3f)"
		if [[ "${R[$label,ch_ratio_net]}" == -* ]]; then
			R[$label,ch_ratio_net]="n/a (the noise estimate exceeds a side)"
		fi
		chq "DROP DATABASE IF EXISTS ${db}_base"
	fi
	stop_collector
	chq "DROP DATABASE IF EXISTS $db"
}

# --- build and server ---------------------------------------------------------------------
command -v clickhouse-client >/dev/null || die "clickhouse-client not found (scripts/clickhouse.sh start installs it as root)"
log "building bin/weir, bin/weirload and bin/nopcollector"
go build -o bin/weir ./cmd/weir || die "go build ./cmd/weir failed"
(cd bench && go build -o ../bin/weirload ./cmd/weirload && go build -o ../bin/nopcollector ./cmd/nopcollector) ||
	die "go build in bench/ failed"
# The config as it is now, beside the binary just built: every weir run uses this copy, so an
# edit of config/weir.yaml during the run cannot pair a newer config with an older binary.
cp config/weir.yaml "$WORK/weir.yaml"
TREE="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' plus uncommitted changes')"
if [[ "$CH_MODE" == private ]]; then
	CH_HOME="$WORK/clickhouse"
	CH_PORT="$(free_port)"
	CH_HTTP_PORT="$(free_port)"
	while [[ "$CH_HTTP_PORT" == "$CH_PORT" ]]; do CH_HTTP_PORT="$(free_port)"; done
	CH_STARTED=1
fi
clickhouse_sh start >&2 || die "scripts/clickhouse.sh start failed (WEIR_HOME=$CH_HOME)"
CH_PID="$(clickhouse_pid)" || die "cannot find the ClickHouse server's pid (port $CH_PORT)"
CH_VERSION="$(chq 'SELECT version()')"
log "ClickHouse $CH_VERSION ($CH_MODE), pid $CH_PID, port $CH_PORT; work dir $WORK"

declare -A R # R[<label>,<key>]
LABELS=()

# Peer first, then weir, in each group, so that the two see the machine as alike as possible.
if has_part rate; then
	run_nop nop-traces traces "$RATE" "$DURATION"
	run_weir shipped traces "$RATE" "$DURATION" 0.1
	run_weir keep-all traces "$RATE" "$DURATION" 1 chratio
fi
if has_part metrics; then
	run_nop nop-metrics metrics "$RATE" "$M_DURATION"
	run_weir metrics metrics "$RATE" "$M_DURATION" 0.1
fi
if has_part max; then
	run_nop nop-max traces max "$DURATION"
	run_weir shipped-max traces max "$DURATION" 0.1
	run_weir keep-all-max traces max "$DURATION" 1
fi

# --- report --------------------------------------------------------------------------------
MET=0
ROWS=0
KV=()
# line TITLE MEASURED TARGET RATIO VALUE OP LIMIT: one row of the table, its verdict whether
# VALUE OP LIMIT holds (OP is <=, >= or ==), counted in MET and ROWS.
line() {
	local verdict="**NOT met**"
	ROWS=$((ROWS + 1))
	if awk "BEGIN { exit !(($5) $6 ($7)) }"; then
		MET=$((MET + 1))
		verdict=met
	fi
	echo "| $1 | $2 | $3 | $4 | $verdict |"
}
have() { [[ -n "${R[$1,acked]:-}" ]]; }
mx() { calc "($1) > ($2) ? ($1) : ($2)" %.0f; }

# rows: | what | measured | target | ratio | verdict |. The ratio is the figure the target
# bounds: weir ÷ the stock collector where the target is a ratio, measured ÷ target otherwise.
table() {
	echo "| | measured | target | ratio | verdict |"
	echo "|---|---|---|---|---|"
	local r v
	if have shipped && have nop-traces; then
		r="$(calc "${R[shipped,cpu]} / ${R[nop-traces,cpu]}" %.2f)"
		line "traces, shipped config at $RATE spans/s: weir CPU per span ÷ stock otlp → batch → nop" \
			"${R[shipped,cpu]} ÷ ${R[nop-traces,cpu]} CPU-s per 1M spans" "≤ ${T_SHIPPED_CPU_RATIO}x" "${r}x" "$r" "<=" "$T_SHIPPED_CPU_RATIO"
		KV+=("shipped_cpu_ratio=$r" "shipped_cpu_per_1m=${R[shipped,cpu]}" "nop_cpu_per_1m=${R[nop-traces,cpu]}")
		r="$(calc "${R[shipped,rss]} / $T_SHIPPED_RSS" %.2f)"
		line "traces, shipped config at $RATE spans/s: peak RSS" \
			"${R[shipped,rss]} MiB" "≤ $T_SHIPPED_RSS MiB" "${r}x" "${R[shipped,rss]}" "<=" "$T_SHIPPED_RSS"
		KV+=("shipped_rss_mib=${R[shipped,rss]}")
	fi
	if have keep-all; then
		r="$(calc "${R[keep-all,cpu]} / $T_KEEPALL_CPU" %.2f)"
		line "traces, keep-all at $RATE spans/s: weir CPU-s per 1M spans" \
			"${R[keep-all,cpu]} (÷ stock collector: $(calc "${R[keep-all,cpu]} / ${R[nop-traces,cpu]}" %.2f)x)" "≤ $T_KEEPALL_CPU" "${r}x" "${R[keep-all,cpu]}" "<=" "$T_KEEPALL_CPU"
		KV+=("keepall_cpu_per_1m=${R[keep-all,cpu]}")
		r="$(calc "${R[keep-all,rss]} / $T_KEEPALL_RSS" %.2f)"
		line "traces, keep-all at $RATE spans/s: peak RSS" \
			"${R[keep-all,rss]} MiB" "≤ $T_KEEPALL_RSS MiB" "${r}x" "${R[keep-all,rss]}" "<=" "$T_KEEPALL_RSS"
		KV+=("keepall_rss_mib=${R[keep-all,rss]}")
	fi
	if have shipped-max; then
		r="$(calc "${R[shipped-max,rate]} / $T_MAX_RATE" %.2f)"
		line "traces, full load, shipped config: spans/s accepted" \
			"${R[shipped-max,rate]} (stock collector: ${R[nop-max,rate]}, weir ÷ it $(calc "${R[shipped-max,rate]} / ${R[nop-max,rate]}" %.2f)x)" "≥ $T_MAX_RATE" "${r}x" "${R[shipped-max,rate]}" ">=" "$T_MAX_RATE"
		KV+=("max_spans_per_s=${R[shipped-max,rate]}" "nop_max_spans_per_s=${R[nop-max,rate]}")
		v="${R[shipped-max,rss]}"
		have keep-all-max && v="$(mx "$v" "${R[keep-all-max,rss]}")"
		r="$(calc "$v / $T_MAX_RSS" %.2f)"
		line "traces, full load, any config: peak RSS" \
			"$v MiB (shipped ${R[shipped-max,rss]}, keep-all ${R[keep-all-max,rss]:-not run})" "≤ 1.25 × $LIMIT_MIB = $T_MAX_RSS MiB" "${r}x" "$v" "<=" "$T_MAX_RSS"
		KV+=("max_rss_mib=$v")
	fi
	if have keep-all; then
		line "ClickHouse server CPU, keep-all at $RATE spans/s ÷ a Native-file insert of the same rows" \
			"${R[keep-all,ch_cpu]} ÷ ${R[keep-all,base_cpu]} CPU-s per 1M spans" "≤ ${T_CH_RATIO}x" "${R[keep-all,ch_ratio]}x" "${R[keep-all,ch_ratio]}" "<=" "$T_CH_RATIO"
		KV+=("ch_ratio=${R[keep-all,ch_ratio]}")
	fi
	echo "| spans lost across a 30 s ClickHouse outage, and across a stop and restart | not measured here; the e2e tests in cmd/weir check it: TestOutage_ClickHouseAwayAndBack (ClickHouse away 30 s under load) and TestCrash_SIGKILLUnderLoad (weir killed under load, restarted on its journal; keep-all and shipped sampling) | 0 | | see the tests |"
	if have metrics && have nop-metrics; then
		r="$(calc "${R[metrics,cpu]} / ${R[nop-metrics,cpu]}" %.2f)"
		line "metrics at $RATE points/s: weir CPU per point ÷ stock otlp → batch → nop" \
			"${R[metrics,cpu]} ÷ ${R[nop-metrics,cpu]} CPU-s per 1M points" "≤ ${T_METRICS_CPU_RATIO}x" "${r}x" "$r" "<=" "$T_METRICS_CPU_RATIO"
		KV+=("metrics_cpu_ratio=$r" "metrics_cpu_per_1m=${R[metrics,cpu]}" "nop_metrics_cpu_per_1m=${R[nop-metrics,cpu]}")
		r="$(calc "${R[metrics,rss]} / $T_METRICS_RSS" %.2f)"
		line "metrics at $RATE points/s: peak RSS" \
			"${R[metrics,rss]} MiB" "≤ $T_METRICS_RSS MiB" "${r}x" "${R[metrics,rss]}" "<=" "$T_METRICS_RSS"
		KV+=("metrics_rss_mib=${R[metrics,rss]}")
		r="$(calc "${R[metrics,stored]} / ${R[metrics,acked]}" %.4f)"
		line "metrics: points stored (five metric tables) ÷ acknowledged" \
			"${R[metrics,stored]} of ${R[metrics,acked]}" "all" "${r}x" "${R[metrics,stored]}" ">=" "${R[metrics,acked]}"
		KV+=("points_acked=${R[metrics,acked]}" "points_stored=${R[metrics,stored]}")
		r="$(calc "${R[metrics,stored]} > 0 ? ${R[metrics,series_count]} / ${R[metrics,stored]} : 0" %.4f)"
		local exact=0
		[[ "${R[metrics,series_count]}" == "${R[metrics,stored]}" && "${R[metrics,series_sum]}" == "${R[metrics,raw_sum]}" ]] && exact=1
		line "metrics: series tiers exact (series_1m sum(Count) = points stored; sum(Sum) of the sums = their stored deltas)" \
			"Count ${R[metrics,series_count]} of ${R[metrics,stored]}; Sum ${R[metrics,series_sum]} of ${R[metrics,raw_sum]}" "equal" "${r}x" "$exact" "==" 1
		KV+=("series_count=${R[metrics,series_count]}" "series_exact=$exact")
	fi
}

# drow TITLE KEY: a row of the details table, R[<label>,KEY] for each run.
drow() {
	local out="| $1 |" l
	for l in "${LABELS[@]}"; do
		out+=" ${R[$l,$2]:--} |"
	done
	echo "$out"
}

# details: one column per run.
details() {
	local header="| |" sep="|---|" l
	for l in "${LABELS[@]}"; do
		header+=" $l |"
		sep+="---|"
	done
	echo "$header"
	echo "$sep"
	for l in "${LABELS[@]}"; do
		R[$l,counts]="${R[$l,sent]} / ${R[$l,acked]} / ${R[$l,stored]:--}"
		R[$l,errs]="${R[$l,errors]} (${R[$l,error_codes]})"
	done
	drow "process" who
	drow "signal" signal
	drow "offered, per s" offered
	drow "acked, per s" rate
	drow "sent / acked / stored (nop: taken in)" counts
	drow "sampler kept (shipped: from weir's metrics)" kept
	drow "errors at weirload (gRPC codes)" errs
	drow "refused by weir's receiver" refused
	drow "metric points dropped by weir's stages" dropped
	drow "CPU-s" cpu_s
	drow "CPU-s per 1M acked" cpu
	drow "peak RSS (VmHWM), MiB" rss
	drow "last row stored, s after the load ended" drain
	drow "measurement window, s" window
	drow "series_1m points by type (gauge / sum / histogram / exp. histogram / summary)" by_type
	drow "ClickHouse CPU-s per 1M spans, weir's writes" ch_cpu
	drow "... of it idle-server noise (estimate, not subtracted)" ch_idle_share
	drow "ClickHouse CPU-s per 1M spans, Native-file baseline (median of three)" base_cpu
	drow "... the three baseline inserts" base_runs
	drow "... of it idle-server noise (estimate, not subtracted)" base_idle_share
	drow "ClickHouse CPU ratio with the noise estimate taken off both" ch_ratio_net
	drow "ClickHouse idle-server CPU, cores (mean of 5 s before and 5 s after)" ch_idle
	drow "baseline wall time, s" base_wall
	drow "INSERTs weir sent, all tables" inserts
	drow "spans: parts made by INSERTs / by merges, weir's writes" parts
	drow "spans: parts made by INSERTs / by merges, baseline" base_parts
	drow "spans: bytes on disk per span (trace_index besides)" bytes
	drow "trace_index: bytes on disk per span" ti_bytes
	drow "weirload CPU-s per 1M sent (same cores)" wl_cpu
}

report() {
	echo "## weir end to end, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), load average" \
		"$(cut -d' ' -f1-3 /proc/loadavg) at the end, ClickHouse $CH_VERSION ($CH_MODE server)," \
		"tree $TREE (at the build)." \
		"weirload: OTLP gRPC, $BATCH spans or points per request, $WORKERS workers, traces of $TRACE_SPANS spans," \
		"${DURATION} s of traces and ${M_DURATION} s of metrics per run. weir: config/weir.yaml${CONFIG_EXTRA:+ merged with $CONFIG_EXTRA}${WEIR_BENCH_WEIR_GOGC:+, GOGC=$WEIR_BENCH_WEIR_GOGC}," \
		"memory_limit_mib $LIMIT_MIB. Stock collector: bench/cmd/nopcollector, otlp → batch → nop." \
		"CPU per span or point acknowledged; weir's over the load and until what it acknowledged" \
		"(and kept) was stored, the stock collector's over the load. Ratio: the figure the target" \
		"bounds (weir ÷ stock collector), or measured ÷ target."
	echo
	table
	echo
	echo "Runs, in order:"
	echo
	details
	echo
	echo "$MET of $ROWS measured targets met; $(((SECONDS - STARTED) / 60)) min $(((SECONDS - STARTED) % 60)) s."
	echo
	echo "bench-e2e-result: ${KV[*]} met=$MET rows=$ROWS"
}

mkdir -p "$(dirname "$RESULTS")"
report >"$WORK/report.md"
tee "$RESULTS" <"$WORK/report.md"
log "results written to $RESULTS"
