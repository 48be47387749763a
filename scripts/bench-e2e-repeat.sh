#!/usr/bin/env bash
# Runs scripts/bench-e2e.sh several times and summarizes the runs: each target's figure in
# every run, the median, the range, and the verdict on the median.
#
# Usage: scripts/bench-e2e-repeat.sh [RUNS] [RESULTS_FILE]
#
# Why: the CPU ratios against the stock collector move by 10 to 20 % from one run to the next
# on this small, shared machine (the stock collector's own CPU per 1M spans went from 1.7 to
# 3.9 CPU-s between runs of one hour), so one run can land on either side of a target that the
# median is close to. The median of RUNS runs (default 3), each a full bench-e2e.sh run with
# the peer in the same run, is the figure to compare; the range says how far to trust it.
#
# The environment is passed on to every run (WEIR_BENCH_PARTS, WEIR_BENCH_RATE, ...; see
# scripts/bench-e2e.sh). Each run's full table goes to RESULTS_FILE.runI.md beside the summary
# (default: a new temporary directory). The summary ends with one line for scripts:
# "bench-e2e-repeat-result: KEY=MEDIAN ...".
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${1:-3}"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "bench-e2e-repeat: RUNS must be a positive integer, got '$RUNS'" >&2; exit 1; }
if [[ -n "${2:-}" ]]; then
	RESULTS="$2"
else
	RESULTS="$(mktemp -d "${TMPDIR:-/tmp}/weir-bench-repeat.XXXXXX")/bench-repeat.md"
fi
: >"$RESULTS" || { echo "bench-e2e-repeat: cannot write $RESULTS" >&2; exit 1; }

# Targets: the key in bench-e2e.sh's result line, its comparison and bound, what it is.
# (Keep in step with the T_* values in scripts/bench-e2e.sh.)
TARGETS=(
	"shipped_cpu_ratio <= 1.0 traces, shipped config: weir CPU per span ÷ the stock collector's"
	"shipped_rss_mib <= 256 traces, shipped config: peak RSS, MiB"
	"keepall_cpu_per_1m <= 4.0 traces, keep-all: weir CPU-s per 1M spans"
	"keepall_rss_mib <= 512 traces, keep-all: peak RSS, MiB"
	"ch_ratio <= 1.1 ClickHouse CPU, weir's writes ÷ the Native-file insert"
	"max_spans_per_s >= 500000 full load, shipped config: spans/s accepted"
	"max_rss_mib <= ${WEIR_MEMORY_LIMIT_MIB:-1024}*1.25 full load, any config: peak RSS, MiB"
	"metrics_cpu_ratio <= 1.0 metrics: weir CPU per point ÷ the stock collector's"
	"metrics_rss_mib <= 192 metrics: peak RSS, MiB"
	"series_exact == 1 metrics: series tiers exact (1: yes)"
)

lines=()
for ((i = 1; i <= RUNS; i++)); do
	echo "bench-e2e-repeat: run $i of $RUNS" >&2
	out="$RESULTS.run$i.md"
	"$REPO_ROOT/scripts/bench-e2e.sh" "$out" >/dev/null ||
		{ echo "bench-e2e-repeat: run $i failed (its table, if any: $out)" >&2; exit 1; }
	line="$(sed -n 's/^bench-e2e-result: //p' "$out")"
	[[ -n "$line" ]] || { echo "bench-e2e-repeat: run $i wrote no result line to $out" >&2; exit 1; }
	lines+=("$line")
done

# value KEY LINE: KEY's value in a result line, empty when the run did not measure it.
value() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }

{
	echo "| | runs | median | range | target | verdict on the median |"
	echo "|---|---|---|---|---|---|"
	kv=()
	for t in "${TARGETS[@]}"; do
		read -r key op bound what <<<"$t"
		vals=()
		for l in "${lines[@]}"; do
			v="$(value "$key" "$l")"
			[[ -n "$v" ]] && vals+=("$v")
		done
		((${#vals[@]} > 0)) || continue
		sorted="$(printf '%s\n' "${vals[@]}" | sort -g)"
		n=${#vals[@]}
		if ((n % 2)); then
			median="$(sed -n "$((n / 2 + 1))p" <<<"$sorted")"
		else
			median="$(sed -n "$((n / 2)),$((n / 2 + 1))p" <<<"$sorted" | awk '{s += $1} END {printf "%.4g", s / 2}')"
		fi
		limit="$(awk "BEGIN { print $bound }")"
		verdict="**NOT met**"
		awk "BEGIN { exit !(($median) $op ($limit)) }" && verdict=met
		joined="$(printf '%s / ' "${vals[@]}")"
		echo "| $what | ${joined% / } | $median | $(head -n1 <<<"$sorted") to $(tail -n1 <<<"$sorted") | $op $limit | $verdict |"
		kv+=("$key=$median")
	done
	echo
	echo "$RUNS runs of scripts/bench-e2e.sh (WEIR_BENCH_PARTS=\"${WEIR_BENCH_PARTS:-rate metrics max}\"), tree $(cd "$REPO_ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown); each run's table: $RESULTS.runI.md."
	echo
	echo "bench-e2e-repeat-result: ${kv[*]}"
} | tee "$RESULTS"
