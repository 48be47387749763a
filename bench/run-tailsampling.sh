#!/usr/bin/env bash
# Process-level comparison of weir's tail sampler with the contrib tail_sampling processor.
#
# Usage: bench/run-tailsampling.sh [RESULTS_FILE]
#
# Builds bench/cmd/samplers (OTLP gRPC receiver ->
# the sampler -> nop exporter) and cmd/weirload. For each rate in TS_BENCH_RATES (default
# "50000 90000 max"; max: weirload -rate 0) and each round (TS_BENCH_ROUNDS, default 1; the
# order of the two collectors alternates from round to round) it starts a fresh collector,
# sends TS_BENCH_DURATION seconds (default 60) of traces of 10 spans (1% with an Error span,
# 5% lasting 1.5 s against a 1 s latency threshold) in requests of 500 spans, waits
# TS_BENCH_DRAIN seconds (default 15) so that the last traces are decided (both hold a trace
# 10 s), then reads:
#   - the collector's CPU, utime+stime from /proc/PID/stat, from just before the load to the
#     end of the drain, per 1M spans accepted;
#   - its peak RSS (VmHWM);
#   - its own metrics (Prometheus, scraped at the end): traces taken in and decided, and
#     what each did at its memory bound: contrib's traces dropped too early (evicted before
#     their decision: lost) and weir's decisions forced by max_buffered_bytes (cause=memory:
#     decided early, not lost).
# A third collector, "none" (the same binary with no processor in the pipeline), measures
# the floor every collector pays for receiving and decoding the requests (TS_BENCH_FLOOR=0
# skips it); a sampler's own CPU is its collector's minus that floor.
# Both keep errors, keep slow traces, and sample 10% of the rest. Sizing: contrib
# num_traces TS_CONTRIB_NUM_TRACES (default 100000, twice the ~55k traces held at 50k
# spans/s), weir max_buffered_bytes TS_WEIR_MAX_BUFFERED (default 268435456, weir's default).
#
# Everything runs on this machine's two cores, weirload included; compare the two collectors
# within a run, not across runs. The markdown table goes to stdout and RESULTS_FILE (default:
# results.md in a new temporary directory, kept). Everything started is stopped on exit.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$BENCH_DIR/.." && pwd)"
# shellcheck source=../scripts/benchlib.sh
source "$REPO_ROOT/scripts/benchlib.sh"

RATES="${TS_BENCH_RATES:-50000 90000 max}"
DURATION="${TS_BENCH_DURATION:-60}"
DRAIN="${TS_BENCH_DRAIN:-15}"
ROUNDS="${TS_BENCH_ROUNDS:-1}"
FLOOR="${TS_BENCH_FLOOR:-1}"
WORKERS="${TS_BENCH_WORKERS:-4}"
BATCH=500
CONTRIB_NUM_TRACES="${TS_CONTRIB_NUM_TRACES:-100000}"
WEIR_MAX_BUFFERED="${TS_WEIR_MAX_BUFFERED:-268435456}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/weir-tsbench.XXXXXX")"
RESULTS="${1:-$WORK/results.md}"
CLK_TCK="$(getconf CLK_TCK)"
BIN="$WORK/bin"

log() { printf 'run-tailsampling: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

PID=""
cleanup() {
	local rc=$?
	stop_collector || true
	log "logs in $WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# cpu_ticks PID: utime+stime of PID in clock ticks (fields counted after the ")" that ends the
# command name).
# metric FILE REGEX: the sum of the samples whose name and labels match REGEX.
metric() { awk -v re="$2" '$0 !~ /^#/ && $1 ~ re {s += $NF} END {printf "%d", s}' "$1"; }


write_config() {
	local which="$1" file="$2" grpc="$3" prom="$4" proc
	if [[ "$which" == none ]]; then
		proc=""
		: >"$file"
	elif [[ "$which" == weir ]]; then
		proc="weir_tail_sampling"
		cat >"$file" <<EOF
processors:
  weir_tail_sampling:
    idle_time: 10s
    max_wait: 10s
    max_buffered_bytes: $WEIR_MAX_BUFFERED
    errors:
      enabled: true
    latency:
      trace_threshold: 1s
    baseline:
      probability: 0.1
EOF
	else
		proc="tail_sampling"
		cat >"$file" <<EOF
processors:
  tail_sampling:
    decision_wait: 10s
    num_traces: $CONTRIB_NUM_TRACES
    expected_new_traces_per_sec: 5000
    sample_on_first_match: true
    policies:
      - name: errors
        type: status_code
        status_code:
          status_codes: [ERROR]
      - name: slow
        type: latency
        latency:
          threshold_ms: 1000
      - name: baseline
        type: probabilistic
        probabilistic:
          sampling_percentage: 10
EOF
	fi
	cat >>"$file" <<EOF
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$grpc
exporters:
  nop:
service:
  telemetry:
    logs:
      level: info
    metrics:
      level: normal
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: $prom
  pipelines:
    traces:
      receivers: [otlp]
      processors: [$proc]
      exporters: [nop]
EOF
}

start_collector() {
	local which="$1" dir="$2" grpc prom
	grpc="$(free_port)"
	prom="$(free_port)"
	write_config "$which" "$dir/config.yaml" "$grpc" "$prom"
	local bin="$BIN/samplers"
	setsid "$bin" --config "$dir/config.yaml" </dev/null >"$dir/collector.log" 2>&1 &
	PID=$!
	GRPC_ADDR="127.0.0.1:$grpc"
	PROM_URL="http://127.0.0.1:$prom/metrics"
	local deadline=$((SECONDS + 60))
	until curl -fsS "$PROM_URL" >/dev/null 2>&1 && (exec 3<>"/dev/tcp/127.0.0.1/$grpc") 2>/dev/null; do
		kill -0 "$PID" 2>/dev/null || {
			tail -n 30 "$dir/collector.log" >&2
			die "$which exited during start (log above)"
		}
		((SECONDS < deadline)) || die "$which did not start within 60s (log: $dir/collector.log)"
		sleep 0.2
	done
}

stop_collector() {
	[[ -n "$PID" ]] || return 0
	local pid="$PID"
	PID=""
	stop_pid "$pid" collector 60
}

declare -A R

# run WHICH RATE ROUND
run() {
	local which="$1" rate="$2" round="$3" dir wl_rate c0 c1 out t0 t1
	dir="$WORK/$which-$rate-$round"
	mkdir -p "$dir"
	start_collector "$which" "$dir"
	wl_rate="$rate"
	[[ "$rate" == max ]] && wl_rate=0
	sleep 2 # let start-up settle before counting CPU
	log "[$rate/$round] $which: weirload -rate $wl_rate for ${DURATION}s, then ${DRAIN}s of drain"
	c0="$(cpu_ticks "$PID")"
	t0="$(date +%s.%N)"
	out="$(/usr/bin/time -f 'weirload_cpu=%U+%S' -o "$dir/weirload.time" \
		"$BIN/weirload" -endpoint "$GRPC_ADDR" -rate "$wl_rate" -duration "${DURATION}s" \
		-batch "$BATCH" -workers "$WORKERS" -report 0 \
		-trace-spans 10 -error-share 0.01 -slow-share 0.05 -slow-duration 1.5s \
		2>"$dir/weirload.log")" || die "weirload failed (log: $dir/weirload.log)"
	echo "$out" >"$dir/weirload.out"
	sleep "$DRAIN"
	c1="$(cpu_ticks "$PID")"
	t1="$(date +%s.%N)"
	local hwm
	hwm="$(awk '/^VmHWM:/ {print $2}' "/proc/$PID/status")"
	curl -fsS "$PROM_URL" >"$dir/metrics.txt" || die "scraping $PROM_URL failed"
	stop_collector

	local m="$dir/metrics.txt" acked key="$which,$rate,$round"
	acked="$(kv "$out" spans_acked)"
	R[$key,acked]="$acked"
	R[$key,rate]="$(kv "$out" rate_achieved)"
	R[$key,errors]="$(kv "$out" errors)"
	R[$key,refused]="$(metric "$m" '^otelcol_receiver_refused_spans')"
	R[$key,in]="$(calc "$(metric "$m" '^otelcol_receiver_accepted_spans') / 10" "%d")"
	R[$key,cpu]="$(calc "($c1 - $c0) / $CLK_TCK")"
	R[$key,cpu_per_m]="$(calc "($c1 - $c0) / $CLK_TCK / $acked * 1000000")"
	R[$key,cores]="$(calc "($c1 - $c0) / $CLK_TCK / ($t1 - $t0)" "%.2f")"
	R[$key,rss]="$(calc "$hwm / 1024" "%.0f")"
	R[$key,wl_cpu]="$(calc "$(sed -n 's/^weirload_cpu=//p' "$dir/weirload.time")" "%.1f")"
	if [[ "$which" == none ]]; then
		R[$key,decided]="" R[$key,held]="" R[$key,kept]="" R[$key,early]="" R[$key,lost]=""
	elif [[ "$which" == weir ]]; then
		R[$key,decided]="$(metric "$m" '^weir_tailsampling_traces_decided')"
		R[$key,held]="$(metric "$m" '^weir_tailsampling_buffered_traces')"
		R[$key,kept]="$(metric "$m" '^weir_tailsampling_traces_decided.*kept="true"')"
		R[$key,early]="$(metric "$m" '^weir_tailsampling_traces_decided.*cause="memory"')"
		R[$key,lost]=0
	else
		R[$key,decided]="$(metric "$m" '^otelcol_processor_tail_sampling_global_count_traces_sampled')"
		R[$key,held]="$(metric "$m" '^otelcol_processor_tail_sampling_sampling_traces_on_memory')"
		R[$key,kept]="$(metric "$m" '^otelcol_processor_tail_sampling_global_count_traces_sampled.*sampled="true"')"
		R[$key,early]=0
		R[$key,lost]="$(metric "$m" '^otelcol_processor_tail_sampling_sampling_trace_dropped_too_early')"
	fi
	log "[$rate/$round] $which: ${R[$key,cpu_per_m]} CPU-s/1M spans, ${R[$key,rss]} MiB peak, decided ${R[$key,decided]}, dropped undecided ${R[$key,lost]}, forced ${R[$key,early]}"
}

log "building into $BIN"
mkdir -p "$BIN"
(cd "$BENCH_DIR" && go build -o "$BIN/samplers" ./cmd/samplers)
(cd "$REPO_ROOT/bench" && go build -o "$BIN/weirload" ./cmd/weirload)

START="$(date -u '+%Y-%m-%d %H:%M UTC')"
for rate in $RATES; do
	for ((round = 1; round <= ROUNDS; round++)); do
		if ((round % 2 == 1)); then order="weir contrib"; else order="contrib weir"; fi
		if [[ "$FLOOR" == 1 ]]; then
			if ((round % 2 == 1)); then order="none $order"; else order="$order none"; fi
		fi
		for which in $order; do
			run "$which" "$rate" "$round"
		done
	done
done

{
	echo "Tail sampling, process level: $START, ${DURATION}s per run + ${DRAIN}s drain, batch $BATCH, $WORKERS workers,"
	echo "contrib num_traces $CONTRIB_NUM_TRACES, weir max_buffered_bytes $WEIR_MAX_BUFFERED."
	echo "CPU-s per 1M spans accepted, whole collector; 'sampler only' subtracts the no-processor floor of the same round."
	echo
	echo "| rate | round | collector | spans/s accepted | CPU-s per 1M spans | sampler only | weir/contrib CPU (whole / sampler only) | peak RSS MiB | weir/contrib RSS | traces in | decided | kept | dropped undecided | decided early (memory) | weirload errors |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	for rate in $RATES; do
		for ((round = 1; round <= ROUNDS; round++)); do
			w="weir,$rate,$round" c="contrib,$rate,$round" n="none,$rate,$round"
			for which in weir contrib none; do
				[[ "$which" == none && "$FLOOR" != 1 ]] && continue
				k="$which,$rate,$round"
				only="" ratio_cpu="" ratio_rss=""
				if [[ "$FLOOR" == 1 && "$which" != none ]]; then
					only="$(calc "${R[$k,cpu_per_m]} - ${R[$n,cpu_per_m]}")"
				fi
				if [[ "$which" == weir ]]; then
					ratio_cpu="$(calc "${R[$w,cpu_per_m]} / ${R[$c,cpu_per_m]}" "%.2f")"
					if [[ "$FLOOR" == 1 ]]; then
						ratio_cpu="$ratio_cpu / $(calc "(${R[$w,cpu_per_m]} - ${R[$n,cpu_per_m]}) / (${R[$c,cpu_per_m]} - ${R[$n,cpu_per_m]})" "%.2f")"
					fi
					ratio_rss="$(calc "${R[$w,rss]} / ${R[$c,rss]}" "%.2f")"
				fi
				echo "| $rate | $round | $which | ${R[$k,rate]} | ${R[$k,cpu_per_m]} | $only | $ratio_cpu | ${R[$k,rss]} | $ratio_rss | ${R[$k,in]} | ${R[$k,decided]} | ${R[$k,kept]} | ${R[$k,lost]} | ${R[$k,early]} | ${R[$k,errors]} |"
			done
		done
	done
} | tee "$RESULTS"
log "results in $RESULTS"
