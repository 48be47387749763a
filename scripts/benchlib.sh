# shellcheck shell=bash
# Helpers shared by the benchmark scripts (scripts/bench-e2e.sh, bench/run-tailsampling.sh).
# Source it; callers define log().

# cpu_ticks PID: utime + stime of a process, in clock ticks.
cpu_ticks() {
	local stat
	stat="$(<"/proc/$1/stat")" || return 1
	stat="${stat##*) }"
	# shellcheck disable=SC2086
	set -- $stat
	echo $((${12} + ${13}))
}

# calc EXPR [FMT]: floating-point arithmetic through awk, printed with FMT (default %.3f).
calc() { awk "BEGIN { printf \"${2:-%.3f}\", ($1) }"; }

# free_port: a TCP port free on loopback right now.
free_port() {
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
		return
	fi
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		if ! ss -ltn "sport = :$p" | grep -q LISTEN; then
			echo "$p"
			return
		fi
	done
}

# kv LINE KEY: the value of KEY=value in weirload's summary line.
kv() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

# stop_pid PID NAME SECONDS: TERM, wait up to SECONDS, then KILL; reaps the child.
stop_pid() {
	local pid="$1" name="$2" limit="$3"
	kill -TERM "$pid" 2>/dev/null || return 0
	local deadline=$((SECONDS + limit))
	while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
		sleep 0.2
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "$name (pid $pid) did not stop within ${limit}s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

# prom_sum FILE NAME [LABELS]: the sum of the samples of metric NAME (exactly: no suffix) in
# a Prometheus text exposition FILE, of those whose labels contain the string LABELS.
prom_sum() {
	awk -v n="$2" -v f="${3:-}" '
		$0 !~ /^#/ {
			name = $1; sub(/\{.*/, "", name)
			if (name == n && index($1, f)) s += $NF
		}
		END { printf "%.0f", s }' "$1"
}

# wait_tcp HOST PORT: true when something accepts connections on HOST:PORT.
wait_tcp() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
