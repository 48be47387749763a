#!/usr/bin/env bash
# A replicated, sharded ClickHouse cluster on loopback, for development and tests:
# one ZooKeeper and 2 shards x 2 replicas of clickhouse-server (ClickHouse 18.16 from Debian).
#
# Usage: scripts/clickhouse-cluster.sh start|stop|status|env|nodes|stop-node NAME|start-node NAME
#
#   start            install (as root) and start ZooKeeper and the four servers, or reuse them;
#                    returns once every server answers and has a ZooKeeper session
#   stop             stop everything this script started (by PID)
#   status           one line per process; exit 3 unless all of them run and answer
#   env              WEIR_CLICKHOUSE_ENDPOINT=... and WEIR_CLICKHOUSE_CLUSTER=... lines to eval
#   nodes            "name shard replica host:port" per server, by shard then replica
#   stop-node NAME   stop one server (n1..n4) or ZooKeeper (zk), by its PID
#   start-node NAME  start it again and wait until it answers (a server: and has its session)
#
# Everything (configs, data, logs, PID files) lives under $WEIR_HOME/cluster, by default
# <repo root>/.weir/cluster. Ports, from WEIR_CLUSTER_PORT_BASE (default 19100), all on
# 127.0.0.1 and clear of scripts/clickhouse.sh's 19000/18123:
#   ZooKeeper client      BASE+90                      (19190)
#   server nI (I = 1..4)  native BASE+10*I, HTTP +1,    (19110/19111, 19120/19121, ...)
#                         interserver +2
# Layout: shard 01 = n1, n2; shard 02 = n3, n4. Macros {shard} (01, 02) and {replica} (the
# server's name, unique in the cluster). Clusters in remote_servers:
#   $WEIR_CLUSTER_NAME (default weir)  2 shards x 2 replicas, internal_replication: the one
#                                     weir's Distributed tables and ON CLUSTER DDL use
#   <name>_servers                    every server as a shard of its own: ON CLUSTER ALTERs of
#                                     tables that are not replicated (Distributed) need it
#                                     (18.16 refuses them through a replicated cluster, 371)
# WEIR_CLUSTER_WAIT bounds each wait in seconds (default 60).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOME_DIR="${WEIR_HOME:-$REPO_ROOT/.weir}/cluster"
CLUSTER="${WEIR_CLUSTER_NAME:-weir}"
PORT_BASE="${WEIR_CLUSTER_PORT_BASE:-19100}"
WAIT_SECONDS="${WEIR_CLUSTER_WAIT:-60}"
HOST=127.0.0.1

NODES=(n1 n2 n3 n4)
ZK_PORT=$((PORT_BASE + 90))
ZK_DIR="$HOME_DIR/zk"
LOCK_FILE="$HOME_DIR/.lock"

SERVER_BIN=""
CLIENT_BIN=""
ZK_CLASSPATH=""

log() { printf 'clickhouse-cluster.sh: %s\n' "$*" >&2; }
err() { printf 'clickhouse-cluster.sh: %s\n' "$*" >&2; }

[[ "$CLUSTER" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || {
	err "WEIR_CLUSTER_NAME $CLUSTER: use letters, digits and underscores"
	exit 2
}
[[ "$PORT_BASE" =~ ^[0-9]+$ ]] && ((PORT_BASE >= 1024 && PORT_BASE <= 65400)) || {
	err "WEIR_CLUSTER_PORT_BASE $PORT_BASE: want a number from 1024 to 65400"
	exit 2
}

# node_index NAME: 1..4 for n1..n4.
node_index() {
	case "$1" in
	n1) echo 1 ;; n2) echo 2 ;; n3) echo 3 ;; n4) echo 4 ;;
	*) return 1 ;;
	esac
}
node_shard() { printf '%02d\n' $((($(node_index "$1") + 1) / 2)); }
node_replica() { echo $((($(node_index "$1") + 1) % 2 + 1)); }
tcp_port() { echo $((PORT_BASE + 10 * $(node_index "$1"))); }
http_port() { echo $((PORT_BASE + 10 * $(node_index "$1") + 1)); }
interserver_port() { echo $((PORT_BASE + 10 * $(node_index "$1") + 2)); }
node_dir() { echo "$HOME_DIR/$1"; }

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

# apt_install PKG...: installs Debian packages as root, keeping their services from starting.
apt_install() {
	local cmd="apt-get update && apt-get install -y $*"
	if [[ "$(id -u)" -ne 0 ]]; then
		err "$* not installed. Install with:"
		err "  sudo env DEBIAN_FRONTEND=noninteractive sh -c '$cmd'"
		exit 1
	fi
	log "installing from Debian packages: $cmd"
	export DEBIAN_FRONTEND=noninteractive
	# Without an init system the packages' postinst would try (and fail) to start system
	# services; a temporary policy-rc.d refuses that, as scripts/clickhouse.sh does.
	local policy=/usr/sbin/policy-rc.d added_policy=0 rc=0
	if [[ ! -e "$policy" ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		added_policy=1
	fi
	{ apt-get update && apt-get install -y "$@"; } || rc=$?
	((added_policy)) && rm -f "$policy"
	if ((rc != 0)); then
		err "apt-get install $* failed (exit $rc)"
		exit "$rc"
	fi
}

# ensure_installed: clickhouse-server, clickhouse-client, java and ZooKeeper's jar; the
# zookeeper package only (zookeeperd would start a system service).
ensure_installed() {
	local want=()
	SERVER_BIN="$(find_bin clickhouse-server)" || want+=(clickhouse-server)
	CLIENT_BIN="$(find_bin clickhouse-client)" || want+=(clickhouse-client)
	[[ -f /usr/share/java/zookeeper.jar ]] || want+=(zookeeper)
	if ((${#want[@]})); then
		apt_install "${want[@]}"
	fi
	SERVER_BIN="$(find_bin clickhouse-server)" && CLIENT_BIN="$(find_bin clickhouse-client)" || {
		err "clickhouse-server/clickhouse-client not found after install"
		exit 1
	}
	if [[ ! -f /usr/share/java/zookeeper.jar ]] || ! command -v java >/dev/null; then
		err "ZooKeeper (/usr/share/java/zookeeper.jar) or java not found after install"
		exit 1
	fi
	# zookeeper.jar's manifest lists its dependencies; the log4j binding makes it log to a file.
	ZK_CLASSPATH="$ZK_DIR/conf:/usr/share/java/zookeeper.jar"
	local j
	for j in slf4j-log4j12.jar log4j-1.2.jar; do
		[[ -f "/usr/share/java/$j" ]] && ZK_CLASSPATH+=":/usr/share/java/$j"
	done
	return 0
}

ensure_client() {
	CLIENT_BIN="$(find_bin clickhouse-client)" || {
		err "clickhouse-client is not installed (run: scripts/clickhouse-cluster.sh start)"
		exit 1
	}
}

# query PORT SQL: one query with a bounded runtime.
query() {
	timeout 5 "$CLIENT_BIN" --host "$HOST" --port "$1" -q "$2" 2>/dev/null
}

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null; }

# zk_cmd WORD: a ZooKeeper four-letter command's answer.
zk_cmd() {
	timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$ZK_PORT; printf '%s' '$1' >&3; cat <&3" 2>/dev/null
}

# ZooKeeper answers ruok before it serves; srvr prints Mode: once it does.
zk_ready() { zk_cmd srvr | grep -q '^Mode:'; }

node_answers() { [[ "$(query "$(tcp_port "$1")" 'SELECT 1' || true)" == 1 ]]; }

# node_has_session: a server crashed in zkutil when ON CLUSTER DDL came before its
# ZooKeeper session; this query answers only once the session is up.
node_has_session() {
	[[ "$(query "$(tcp_port "$1")" "SELECT count() > 0 FROM system.zookeeper WHERE path = '/'" || true)" == 1 ]]
}

# pid_of NAME: the PID in NAME's pid file, if that process is alive and is what we started.
pid_of() {
	local name="$1" file pid pattern
	if [[ "$name" == zk ]]; then
		file="$ZK_DIR/pid" pattern=QuorumPeerMain
	else
		file="$(node_dir "$name")/pid" pattern=clickhouse
	fi
	[[ -f "$file" ]] || return 1
	pid="$(tr -dc '0-9' <"$file")"
	[[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || {
		rm -f "$file"
		return 1
	}
	# A process between two exec()s (the subshell becoming setsid, nohup, then the server)
	# shows an empty cmdline for a moment: it is still ours. Right after a launch, taking it
	# for a dead one would drop the PID file of a server that then runs unmanaged.
	local cmdline=""
	[[ -r "/proc/$pid/cmdline" ]] && cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
	if [[ -n "$cmdline" ]] && ! grep -q "$pattern" <<<"$cmdline"; then
		rm -f "$file"
		return 1
	fi
	printf '%s\n' "$pid"
}

# wait_until SECONDS PID CMD...: polls CMD until it succeeds; fails when PID dies or time is up.
wait_until() {
	local seconds="$1" pid="$2" deadline
	shift 2
	deadline=$((SECONDS + seconds))
	while ((SECONDS < deadline)); do
		"$@" && return 0
		if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
			return 1
		fi
		sleep 0.2
	done
	"$@"
}

write_zk_config() {
	mkdir -p "$ZK_DIR/conf" "$ZK_DIR/data"
	cat >"$ZK_DIR/conf/zoo.cfg" <<EOF
# Generated by scripts/clickhouse-cluster.sh on each start; edits are overwritten.
tickTime=2000
dataDir=$ZK_DIR/data
clientPort=$ZK_PORT
clientPortAddress=$HOST
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=ruok,mntr,stat,srvr
autopurge.snapRetainCount=3
autopurge.purgeInterval=1
EOF
	cat >"$ZK_DIR/conf/log4j.properties" <<EOF
# Generated by scripts/clickhouse-cluster.sh on each start; edits are overwritten.
log4j.rootLogger=WARN, FILE
log4j.appender.FILE=org.apache.log4j.RollingFileAppender
log4j.appender.FILE.File=$ZK_DIR/zookeeper.log
log4j.appender.FILE.MaxFileSize=20MB
log4j.appender.FILE.MaxBackupIndex=2
log4j.appender.FILE.layout=org.apache.log4j.PatternLayout
log4j.appender.FILE.layout.ConversionPattern=%d{ISO8601} %-5p [%t] %c{1}: %m%n
EOF
}

# remote_servers_xml: the two clusters every server knows.
remote_servers_xml() {
	local s n
	printf '    <remote_servers>\n        <%s>\n' "$CLUSTER"
	for s in 1 2; do
		printf '            <shard>\n                <internal_replication>true</internal_replication>\n'
		for n in "n$((2 * s - 1))" "n$((2 * s))"; do
			printf '                <replica><host>%s</host><port>%s</port></replica>\n' "$HOST" "$(tcp_port "$n")"
		done
		printf '            </shard>\n'
	done
	printf '        </%s>\n        <%s_servers>\n' "$CLUSTER" "$CLUSTER"
	for n in "${NODES[@]}"; do
		printf '            <shard><replica><host>%s</host><port>%s</port></replica></shard>\n' "$HOST" "$(tcp_port "$n")"
	done
	printf '        </%s_servers>\n    </remote_servers>\n' "$CLUSTER"
}

write_node_config() {
	local name="$1" dir
	dir="$(node_dir "$name")"
	mkdir -p "$dir/etc" "$dir/data/user_files" "$dir/data/format_schemas" "$dir/tmp" "$dir/log"
	cat >"$dir/etc/config.xml" <<EOF
<?xml version="1.0"?>
<!-- Generated by scripts/clickhouse-cluster.sh on each start; edits are overwritten. -->
<yandex>
    <logger>
        <level>warning</level>
        <log>$dir/log/clickhouse-server.log</log>
        <errorlog>$dir/log/clickhouse-server.err.log</errorlog>
        <size>50M</size>
        <count>2</count>
    </logger>
    <http_port>$(http_port "$name")</http_port>
    <tcp_port>$(tcp_port "$name")</tcp_port>
    <interserver_http_port>$(interserver_port "$name")</interserver_http_port>
    <interserver_http_host>$HOST</interserver_http_host>
    <listen_host>$HOST</listen_host>
    <max_connections>512</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>67108864</uncompressed_cache_size>
    <mark_cache_size>134217728</mark_cache_size>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/data/user_files/</user_files_path>
    <format_schema_path>$dir/data/format_schemas/</format_schema_path>
    <users_config>$dir/etc/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
    <zookeeper>
        <node><host>$HOST</host><port>$ZK_PORT</port></node>
        <session_timeout_ms>30000</session_timeout_ms>
    </zookeeper>
    <macros>
        <shard>$(node_shard "$name")</shard>
        <replica>$name</replica>
    </macros>
    <distributed_ddl>
        <path>/clickhouse/task_queue/ddl</path>
    </distributed_ddl>
$(remote_servers_xml)
</yandex>
EOF
	cat >"$dir/etc/users.xml" <<'EOF'
<?xml version="1.0"?>
<!-- Generated by scripts/clickhouse-cluster.sh on each start; edits are overwritten. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>in_order</load_balancing>
            <!-- Four servers share two cores here: fewer merge threads each. -->
            <background_pool_size>4</background_pool_size>
            <background_schedule_pool_size>4</background_schedule_pool_size>
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

show_logs() {
	local f
	for f in "$@"; do
		if [[ -s "$f" ]]; then
			err "--- last lines of $f ---"
			tail -n 20 "$f" >&2
		fi
	done
}

start_zk() {
	local pid
	if pid="$(pid_of zk)"; then
		wait_until "$WAIT_SECONDS" "$pid" zk_ready && return 0
		err "ZooKeeper (pid $pid) runs but does not serve on $HOST:$ZK_PORT"
		show_logs "$ZK_DIR/zookeeper.log" "$ZK_DIR/stdout.log"
		exit 1
	fi
	if port_open "$ZK_PORT"; then
		err "port $HOST:$ZK_PORT is taken by a process this script did not start; set WEIR_CLUSTER_PORT_BASE"
		exit 1
	fi
	write_zk_config
	(
		cd "$ZK_DIR"
		exec 9>&- # the lock stays with this script, not with the daemon
		exec setsid nohup java -Xmx256m -XX:+UseSerialGC \
			-Dlog4j.configuration="file:$ZK_DIR/conf/log4j.properties" \
			-cp "$ZK_CLASSPATH" org.apache.zookeeper.server.quorum.QuorumPeerMain "$ZK_DIR/conf/zoo.cfg" \
			</dev/null >>"$ZK_DIR/stdout.log" 2>&1
	) &
	pid=$!
	echo "$pid" >"$ZK_DIR/pid"
	if ! wait_until "$WAIT_SECONDS" "$pid" zk_ready; then
		err "ZooKeeper (pid $pid) did not serve on $HOST:$ZK_PORT within ${WAIT_SECONDS}s"
		show_logs "$ZK_DIR/zookeeper.log" "$ZK_DIR/stdout.log"
		kill -TERM "$pid" 2>/dev/null || true
		rm -f "$ZK_DIR/pid"
		exit 1
	fi
	log "ZooKeeper on $HOST:$ZK_PORT (pid $pid)"
}

# launch_node NAME: starts the server unless it runs; does not wait.
launch_node() {
	local name="$1" dir pid port
	dir="$(node_dir "$name")"
	pid_of "$name" >/dev/null && return 0
	for port in "$(tcp_port "$name")" "$(http_port "$name")" "$(interserver_port "$name")"; do
		if port_open "$port"; then
			err "port $HOST:$port of $name is taken by a process this script did not start; set WEIR_CLUSTER_PORT_BASE"
			exit 1
		fi
	done
	write_node_config "$name"
	(
		cd "$dir"
		exec 9>&-
		exec setsid nohup "$SERVER_BIN" --config-file="$dir/etc/config.xml" </dev/null >>"$dir/log/stdout.log" 2>&1
	) &
	echo "$!" >"$dir/pid"
}

# await_node NAME: waits until NAME answers and has its ZooKeeper session.
await_node() {
	local name="$1" dir pid
	dir="$(node_dir "$name")"
	pid="$(pid_of "$name")" || {
		err "$name exited during startup"
		show_logs "$dir/log/clickhouse-server.err.log" "$dir/log/stdout.log"
		exit 1
	}
	if ! wait_until "$WAIT_SECONDS" "$pid" node_answers "$name"; then
		err "$name (pid $pid) did not answer on $HOST:$(tcp_port "$name") within ${WAIT_SECONDS}s"
		show_logs "$dir/log/clickhouse-server.err.log" "$dir/log/stdout.log"
		exit 1
	fi
	if ! wait_until "$WAIT_SECONDS" "$pid" node_has_session "$name"; then
		err "$name (pid $pid) has no ZooKeeper session after ${WAIT_SECONDS}s (ZooKeeper on $HOST:$ZK_PORT)"
		show_logs "$dir/log/clickhouse-server.err.log"
		exit 1
	fi
}

# stop_pid NAME PID: TERM, then KILL after 15 s.
stop_pid() {
	local name="$1" pid="$2" deadline
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$((SECONDS + 15))
	while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		err "$name (pid $pid) did not stop within 15s; sending KILL"
		kill -KILL "$pid" 2>/dev/null || true
		sleep 0.3
	fi
}

stop_one() {
	local name="$1" pid file
	if [[ "$name" == zk ]]; then file="$ZK_DIR/pid"; else file="$(node_dir "$name")/pid"; fi
	if ! pid="$(pid_of "$name")"; then
		log "$name is not running"
		return 0
	fi
	stop_pid "$name" "$pid"
	rm -f "$file"
	log "stopped $name (pid $pid)"
}

# with_lock CMD...: runs CMD holding the cluster's lock, so parallel test packages that all
# ask for the cluster start it once.
with_lock() {
	mkdir -p "$HOME_DIR"
	exec 9>"$LOCK_FILE"
	if ! flock -w $((WAIT_SECONDS * 3)) 9; then
		err "another scripts/clickhouse-cluster.sh holds $LOCK_FILE for more than $((WAIT_SECONDS * 3))s"
		exit 1
	fi
	"$@"
}

cmd_start() {
	ensure_installed
	start_zk
	local n
	for n in "${NODES[@]}"; do
		launch_node "$n"
	done
	for n in "${NODES[@]}"; do
		await_node "$n"
	done
	log "cluster $CLUSTER: 2 shards x 2 replicas on $HOST ports $(tcp_port n1)..$(tcp_port n4), ZooKeeper $ZK_PORT, data in $HOME_DIR"
}

cmd_stop() {
	local n pid i names=() pids=()
	# Signal every server first: each takes a few seconds to shut down.
	for n in "${NODES[@]}"; do
		if pid="$(pid_of "$n")"; then
			kill -TERM "$pid" 2>/dev/null || true
			names+=("$n")
			pids+=("$pid")
		else
			log "$n is not running"
		fi
	done
	for i in "${!pids[@]}"; do
		stop_pid "${names[i]}" "${pids[i]}"
		rm -f "$(node_dir "${names[i]}")/pid"
		log "stopped ${names[i]} (pid ${pids[i]})"
	done
	stop_one zk
}

check_name() {
	[[ "${1:-}" == zk ]] || node_index "${1:-}" >/dev/null || {
		err "unknown node ${1:-}: use n1, n2, n3, n4 or zk"
		exit 2
	}
}

cmd_start_node() {
	local name="$1"
	ensure_installed
	if [[ "$name" == zk ]]; then
		start_zk
		return 0
	fi
	zk_ready || {
		err "ZooKeeper is not serving on $HOST:$ZK_PORT: run scripts/clickhouse-cluster.sh start"
		exit 1
	}
	launch_node "$name"
	await_node "$name"
	log "$name on $HOST:$(tcp_port "$name") (pid $(pid_of "$name"))"
}

cmd_status() {
	ensure_client
	local rc=0 n pid
	if pid="$(pid_of zk)" && zk_ready; then
		echo "zk running pid $pid $HOST:$ZK_PORT"
	else
		echo "zk down $HOST:$ZK_PORT"
		rc=3
	fi
	for n in "${NODES[@]}"; do
		if pid="$(pid_of "$n")" && node_answers "$n"; then
			echo "$n running pid $pid $HOST:$(tcp_port "$n") shard $(node_shard "$n") replica $(node_replica "$n")"
		else
			echo "$n down $HOST:$(tcp_port "$n")"
			rc=3
		fi
	done
	return "$rc"
}

cmd_env() {
	local n tcp="" http=""
	for n in "${NODES[@]}"; do
		tcp+="${tcp:+,}$HOST:$(tcp_port "$n")"
		http+="${http:+,}http://$HOST:$(http_port "$n")"
	done
	echo "WEIR_CLICKHOUSE_ENDPOINT=tcp://$tcp"
	echo "WEIR_CLICKHOUSE_CLUSTER=$CLUSTER"
	echo "WEIR_CLICKHOUSE_HTTP_ENDPOINT=$http"
}

cmd_nodes() {
	local n
	for n in "${NODES[@]}"; do
		echo "$n $(node_shard "$n") $(node_replica "$n") $HOST:$(tcp_port "$n")"
	done
}

usage() {
	echo "usage: $0 start|stop|status|env|nodes|stop-node NAME|start-node NAME" >&2
	exit 2
}

[[ $# -ge 1 ]] || usage
sub="$1"
shift
case "$sub" in
start) with_lock cmd_start ;;
stop) with_lock cmd_stop ;;
status) cmd_status ;;
env) cmd_env ;;
nodes) cmd_nodes ;;
stop-node)
	check_name "${1:-}"
	with_lock stop_one "$1"
	;;
start-node)
	check_name "${1:-}"
	with_lock cmd_start_node "$1"
	;;
*) usage ;;
esac
