#!/usr/bin/env bash
# Project-local ClickHouse server for development, tests and CI.
#
# Usage: scripts/clickhouse.sh start|stop|status|client [args...]|wait
#
# Everything (config, data, tmp, logs, pid file) lives under $WEIR_HOME,
# by default <repo root>/.weir/clickhouse. Ports:
#   WEIR_CLICKHOUSE_TCP_PORT   native protocol (default 19000)
#   WEIR_CLICKHOUSE_HTTP_PORT  HTTP interface  (default 18123)
#   WEIR_CLICKHOUSE_WAIT       seconds to wait for the server to answer (default 30)
#
# The only packaged server for these machines is Debian's ClickHouse 18.16;
# rollup/SCHEMA.md says what the schema's portable core avoids for it.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WEIR_HOME="${WEIR_HOME:-$REPO_ROOT/.weir/clickhouse}"
TCP_PORT="${WEIR_CLICKHOUSE_TCP_PORT:-19000}"
HTTP_PORT="${WEIR_CLICKHOUSE_HTTP_PORT:-18123}"
WAIT_SECONDS="${WEIR_CLICKHOUSE_WAIT:-30}"
HOST=127.0.0.1

CONFIG_DIR="$WEIR_HOME/etc"
DATA_DIR="$WEIR_HOME/data"
TMP_DIR="$WEIR_HOME/tmp"
LOG_DIR="$WEIR_HOME/log"
PID_FILE="$WEIR_HOME/clickhouse-server.pid"
PORT_FILE="$WEIR_HOME/clickhouse-server.port" # native port of the running server
CONFIG_FILE="$CONFIG_DIR/config.xml"
USERS_FILE="$CONFIG_DIR/users.xml"
STDOUT_LOG="$LOG_DIR/stdout.log"
SERVER_LOG="$LOG_DIR/clickhouse-server.log"
ERROR_LOG="$LOG_DIR/clickhouse-server.err.log"

SERVER_BIN=""
CLIENT_BIN=""

log() { printf 'clickhouse.sh: %s\n' "$*"; }
err() { printf 'clickhouse.sh: %s\n' "$*" >&2; }

# find_bin NAME: prints the path of NAME from PATH or /usr/sbin, /usr/bin.
find_bin() {
	local name="$1" p
	if p="$(command -v "$name" 2>/dev/null)"; then
		printf '%s\n' "$p"
		return 0
	fi
	for p in "/usr/sbin/$name" "/usr/bin/$name"; do
		if [[ -x "$p" ]]; then
			printf '%s\n' "$p"
			return 0
		fi
	done
	return 1
}

# ensure_installed: locate clickhouse-server and clickhouse-client, installing
# the Debian packages when running as root.
ensure_installed() {
	if SERVER_BIN="$(find_bin clickhouse-server)" && CLIENT_BIN="$(find_bin clickhouse-client)"; then
		return 0
	fi
	local cmd="apt-get update && apt-get install -y clickhouse-server clickhouse-client"
	if [[ "$(id -u)" -ne 0 ]]; then
		err "clickhouse-server/clickhouse-client are not installed. Install them with:"
		err "  sudo env DEBIAN_FRONTEND=noninteractive sh -c '$cmd'"
		exit 1
	fi
	log "installing ClickHouse from Debian packages: $cmd"
	# The packages' postinst may try to start a service (invoke-rc.d warnings
	# without an init system); that is harmless, we run our own instance.
	# On hosts without Docker's /usr/sbin/policy-rc.d, add one for the
	# duration of the install so that postinst does not start the system-wide
	# service on port 9000 (or fail trying).
	export DEBIAN_FRONTEND=noninteractive
	local policy=/usr/sbin/policy-rc.d added_policy=0
	if [[ ! -e "$policy" ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		added_policy=1
	fi
	local rc=0
	{ apt-get update && apt-get install -y clickhouse-server clickhouse-client; } || rc=$?
	if ((added_policy)); then
		rm -f "$policy"
	fi
	if ((rc != 0)); then
		err "apt-get install failed (exit $rc)"
		exit "$rc"
	fi
	if ! SERVER_BIN="$(find_bin clickhouse-server)" || ! CLIENT_BIN="$(find_bin clickhouse-client)"; then
		err "clickhouse-server/clickhouse-client still not found after apt-get install"
		exit 1
	fi
}

ensure_client() {
	if ! CLIENT_BIN="$(find_bin clickhouse-client)"; then
		err "clickhouse-client is not installed (run: scripts/clickhouse.sh start)"
		exit 1
	fi
}

# query SQL: run one query against the local port with a bounded runtime.
query() {
	timeout 5 "$CLIENT_BIN" --host "$HOST" --port "$TCP_PORT" -q "$1" 2>/dev/null
}

answers() { [[ "$(query 'SELECT 1' || true)" == "1" ]]; }

server_version() { query 'SELECT version()' || echo unknown; }

# port_open PORT: true if something accepts TCP connections on HOST:PORT.
port_open() {
	timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null
}

# read_pid: prints the pid from the pid file if any.
read_pid() {
	[[ -f "$PID_FILE" ]] || return 1
	local pid
	pid="$(tr -dc '0-9' <"$PID_FILE")"
	[[ -n "$pid" ]] || return 1
	printf '%s\n' "$pid"
}

# is_our_server PID: true if PID is alive and is a clickhouse process.
is_our_server() {
	local pid="$1"
	kill -0 "$pid" 2>/dev/null || return 1
	[[ -r "/proc/$pid/cmdline" ]] || return 0 # no procfs: trust kill -0
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q clickhouse
}

# live_pid: prints the pid of the server we started, if it is still running.
# Removes a stale pid file.
live_pid() {
	local pid
	pid="$(read_pid)" || return 1
	if is_our_server "$pid"; then
		printf '%s\n' "$pid"
		return 0
	fi
	rm -f "$PID_FILE" "$PORT_FILE"
	return 1
}

# running_port: prints the native port the server in the pid file was started with.
running_port() {
	local port=""
	[[ -f "$PORT_FILE" ]] && port="$(tr -dc '0-9' <"$PORT_FILE")"
	printf '%s\n' "${port:-unknown}"
}

write_config() {
	mkdir -p "$CONFIG_DIR" "$DATA_DIR" "$TMP_DIR" "$LOG_DIR" \
		"$DATA_DIR/user_files" "$DATA_DIR/format_schemas"
	cat >"$CONFIG_FILE" <<EOF
<?xml version="1.0"?>
<!-- Generated by scripts/clickhouse.sh on each start; edits are overwritten. -->
<yandex>
    <logger>
        <level>warning</level>
        <log>$SERVER_LOG</log>
        <errorlog>$ERROR_LOG</errorlog>
        <size>100M</size>
        <count>3</count>
    </logger>
    <http_port>$HTTP_PORT</http_port>
    <tcp_port>$TCP_PORT</tcp_port>
    <listen_host>$HOST</listen_host>
    <max_connections>1024</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>536870912</mark_cache_size>
    <path>$DATA_DIR/</path>
    <tmp_path>$TMP_DIR/</tmp_path>
    <user_files_path>$DATA_DIR/user_files/</user_files_path>
    <format_schema_path>$DATA_DIR/format_schemas/</format_schema_path>
    <users_config>$USERS_FILE</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
    <compression>
        <case>
            <method>zstd</method>
        </case>
    </compression>
</yandex>
EOF
	cat >"$USERS_FILE" <<'EOF'
<?xml version="1.0"?>
<!-- Generated by scripts/clickhouse.sh on each start; edits are overwritten. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>10000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>random</load_balancing>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
}

# wait_ready SECONDS [PID]: wait until SELECT 1 answers; fail early if PID dies.
wait_ready() {
	local seconds="$1" pid="${2:-}" deadline
	deadline=$((SECONDS + seconds))
	while ((SECONDS < deadline)); do
		if answers; then
			return 0
		fi
		if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
			return 1
		fi
		sleep 0.25
	done
	answers
}

show_logs() {
	local f
	for f in "$ERROR_LOG" "$STDOUT_LOG"; do
		if [[ -s "$f" ]]; then
			err "--- last lines of $f ---"
			tail -n 30 "$f" >&2
		fi
	done
}

cmd_start() {
	ensure_installed
	local pid
	if pid="$(live_pid)"; then
		local port
		port="$(running_port)"
		if [[ "$port" != "$TCP_PORT" && "$port" != unknown ]]; then
			err "ClickHouse from $WEIR_HOME is already running on port $port (pid $pid), not $TCP_PORT; run scripts/clickhouse.sh stop first or use another WEIR_HOME"
			exit 1
		fi
		if answers; then
			log "ClickHouse $(server_version) already running on $HOST:$TCP_PORT (pid $pid, data in $DATA_DIR)"
			return 0
		fi
		# Our process is alive but not (yet) answering: maybe still starting.
		if wait_ready "$WAIT_SECONDS" "$pid"; then
			log "ClickHouse $(server_version) running on $HOST:$TCP_PORT (pid $pid, data in $DATA_DIR)"
			return 0
		fi
		err "server pid $pid is alive but does not answer on $HOST:$TCP_PORT (is WEIR_CLICKHOUSE_TCP_PORT the port it was started with?); run scripts/clickhouse.sh stop first"
		show_logs
		exit 1
	fi

	if port_open "$TCP_PORT"; then
		if answers; then
			log "note: a ClickHouse $(server_version) not started by this script already answers on $HOST:$TCP_PORT; using it"
			return 0
		fi
		err "port $HOST:$TCP_PORT is in use by something that is not a ClickHouse server; set WEIR_CLICKHOUSE_TCP_PORT to a free port"
		exit 1
	fi
	if port_open "$HTTP_PORT"; then
		err "HTTP port $HOST:$HTTP_PORT is already in use; set WEIR_CLICKHOUSE_HTTP_PORT to a free port"
		exit 1
	fi

	write_config
	: >"$STDOUT_LOG"
	# Run from the home so relative paths (and core files) stay inside it.
	# Without job control a background job is not a process group leader, so
	# setsid execs in place and $! is the server's pid.
	(
		cd "$WEIR_HOME"
		exec setsid nohup "$SERVER_BIN" --config-file="$CONFIG_FILE" </dev/null >>"$STDOUT_LOG" 2>&1
	) &
	pid=$!
	echo "$pid" >"$PID_FILE"
	echo "$TCP_PORT" >"$PORT_FILE"

	if ! wait_ready "$WAIT_SECONDS" "$pid"; then
		if kill -0 "$pid" 2>/dev/null; then
			err "ClickHouse (pid $pid) did not answer on $HOST:$TCP_PORT within ${WAIT_SECONDS}s; stopping it"
			kill -TERM "$pid" 2>/dev/null || true
		else
			err "ClickHouse exited during startup"
		fi
		rm -f "$PID_FILE" "$PORT_FILE"
		show_logs
		exit 1
	fi
	log "ClickHouse $(server_version) on $HOST:$TCP_PORT (pid $pid, data in $DATA_DIR)"
}

cmd_stop() {
	local pid
	if ! pid="$(live_pid)"; then
		log "no ClickHouse started by this script is running (home $WEIR_HOME)"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + 15))
	while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
		sleep 0.2
	done
	if kill -0 "$pid" 2>/dev/null; then
		err "pid $pid did not stop within 15s; sending KILL"
		kill -KILL "$pid" 2>/dev/null || true
		sleep 0.5
	fi
	rm -f "$PID_FILE" "$PORT_FILE"
	log "stopped ClickHouse (pid $pid)"
}

cmd_status() {
	ensure_client
	local pid
	if pid="$(live_pid)"; then
		if answers; then
			log "running: pid $pid, $HOST:$TCP_PORT (http $HTTP_PORT), version $(server_version), data in $DATA_DIR"
			return 0
		fi
		log "not running: pid $pid (started on port $(running_port)) is alive but does not answer on $HOST:$TCP_PORT"
		return 3
	fi
	if answers; then
		log "running (not started by this script): $HOST:$TCP_PORT, version $(server_version)"
		return 0
	fi
	log "not running (port $TCP_PORT, home $WEIR_HOME)"
	return 3
}

cmd_wait() {
	ensure_client
	if wait_ready "$WAIT_SECONDS"; then
		return 0
	fi
	err "ClickHouse did not answer on $HOST:$TCP_PORT within ${WAIT_SECONDS}s (start it with scripts/clickhouse.sh start)"
	exit 1
}

cmd_client() {
	ensure_client
	exec "$CLIENT_BIN" --host "$HOST" --port "$TCP_PORT" "$@"
}

usage() {
	echo "usage: $0 start|stop|status|client [args...]|wait" >&2
	exit 2
}

[[ $# -ge 1 ]] || usage
sub="$1"
shift
case "$sub" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
wait) cmd_wait ;;
client) cmd_client "$@" ;;
-h | --help | help) usage ;;
*) usage ;;
esac
