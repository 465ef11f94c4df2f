#!/usr/bin/env bash
# Apache Kafka (KRaft) for local runs and tests: one node (the default), or a
# cluster of TALLY_KAFKA_NODES nodes on 127.0.0.1 (each a combined
# controller and broker, with its own port and state folder, the same jars).
#   kafka.sh start    fetch the jars once (mvn, cached), format storage once,
#                     start every node, wait until the metadata lists them
#                     all, create topics (deploy/kafka/topics.conf; a single
#                     node keeps one replica of each)
#   kafka.sh stop     stop every node cleanly (SIGTERM, then SIGKILL after 60 s)
#   kafka.sh status   exit 0 when every node runs and the cluster answers
#   kafka.sh kill     SIGKILL every node, and wait until they are gone
#   kafka.sh pid      print the nodes' pids, a line each (exit 1 when none runs)
#   kafka.sh wipe     stop and delete the state folders
# Per node N (1..TALLY_KAFKA_NODES), for tests of broker loss:
#   kafka.sh start-node N | stop-node N | kill-node N | pid-node N
# One node: TALLY_BROKERS=127.0.0.1:19092, its controller on port + 1, state in
# $TALLY_STATE/kafka. A cluster (e.g. TALLY_KAFKA_NODES=3): TALLY_BROKERS lists
# the nodes' ports in order (env.sh makes 19092,19093,19094 of 19092), node N's
# controller listens on its port + 100, its state is $TALLY_STATE/kafka-N;
# replication factor 3 and min.insync.replicas=2 where topics.conf says so,
# and for the offsets and transaction logs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

nodes=$TALLY_KAFKA_NODES
IFS=, read -r -a broker_list <<<"$TALLY_BROKERS"
[[ ${#broker_list[@]} -eq $nodes ]] ||
  tally_die "kafka: TALLY_BROKERS lists ${#broker_list[@]} broker(s), TALLY_KAFKA_NODES=$nodes"
# Keyed by the pom too: a changed dependency list fetches a fresh set.
pom_stamp=$(sha256sum "$TALLY_ROOT/deploy/kafka/pom.xml" | cut -c1-12)
libs=$TALLY_CACHE/kafka-$TALLY_KAFKA_VERSION-$pom_stamp/libs
# The settings of node $1: state, pidfile, port, controller_port.
node() {
  local i=$1
  [[ $i =~ ^[0-9]+$ && $i -ge 1 && $i -le $nodes ]] || tally_die "kafka: no node '$i' (1..$nodes)"
  port=${broker_list[$((i - 1))]##*:}
  if [[ $nodes -eq 1 ]]; then
    state=$TALLY_STATE/kafka controller_port=$((port + 1))
  else
    state=$TALLY_STATE/kafka-$i controller_port=$((port + 100))
  fi
  pidfile=$state/kafka.pid
}
voters() {
  local i v= p
  for ((i = 1; i <= nodes; i++)); do
    p=${broker_list[$((i - 1))]##*:}
    v+=${v:+,}$i@127.0.0.1:$((nodes == 1 ? p + 1 : p + 100))
  done
  echo "$v"
}

fetch_jars() {
  [[ -f $libs/.complete ]] && return 0
  command -v mvn >/dev/null || tally_die "mvn not found: run deploy/setup.sh"
  tally_log "kafka: fetching Apache Kafka $TALLY_KAFKA_VERSION from Maven Central into $libs"
  mkdir -p "$libs"
  mvn -q -B -f "$TALLY_ROOT/deploy/kafka/pom.xml" dependency:copy-dependencies \
      -Dkafka.version="$TALLY_KAFKA_VERSION" -DincludeScope=runtime \
      -DoutputDirectory="$libs" >"$TALLY_CACHE/mvn-kafka.log" 2>&1 ||
    { tail -n 30 "$TALLY_CACHE/mvn-kafka.log" >&2; tally_die "mvn could not fetch Kafka $TALLY_KAFKA_VERSION"; }
  touch "$libs/.complete"
}

write_config() {
  local id=$1 rf=$((nodes < 3 ? nodes : 3))
  local min_isr=$((rf > 1 ? 2 : 1))
  mkdir -p "$state/data"
  cat >"$state/server.properties" <<PROPS
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$(voters)
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$state/data
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=1
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$min_isr
# A SIGKILLed node is fenced (out of every ISR, its leaderships moved) once
# it missed heartbeats this long: the default 9 s is most of a failover.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=6000
transaction.state.log.num.partitions=6
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.cleaner.backoff.ms=5000
PROPS
  cat >"$state/log4j2.properties" <<PROPS
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $state/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
PROPS
}

java_args() {
  jvm=(java -Xms512m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true
       -Dlog4j2.configurationFile="$state/log4j2.properties" -cp "$libs/*")
}

running_pid() {
  [[ -f $pidfile ]] || return 1
  local pid; pid=$(cat "$pidfile")
  [[ -n $pid ]] && tally_alive "$pid" && echo "$pid"
}

admin() {
  local bin=$TALLY_BUILD_DIR/bin/tally-kafka-admin
  [[ -x $bin ]] || tally_build tally-kafka-admin
  "$bin" --brokers="$TALLY_BROKERS" "$@"
}

# The cluster id every node is formatted with (kept with the state).
cluster_id() {
  local f=$TALLY_STATE/kafka-cluster.id id=-
  if [[ $nodes -gt 1 && -s $f ]]; then cat "$f"; return; fi
  # base64url of 16 random bytes; one that starts with '-' would be read
  # as an option by the storage tool (1 start in 64 failed that way).
  while [[ $id == -* ]]; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
  done
  [[ $nodes -eq 1 ]] || { mkdir -p "$TALLY_STATE"; echo "$id" >"$f"; }
  echo "$id"
}

# Launches node $1 (formatted once) without waiting for it.
launch_node() {
  node "$1"
  running_pid >/dev/null && return 0
  write_config "$1"
  java_args
  if [[ ! -f $state/data/meta.properties ]]; then
    "${jvm[@]}" kafka.tools.StorageTool format -t "$(cluster_id)" -c "$state/server.properties" \
      >"$state/format.log" 2>&1 || { cat "$state/format.log" >&2; tally_die "kafka: storage format of node $1 failed"; }
  fi
  if ss -ltn "sport = :$port" 2>/dev/null | grep -q LISTEN; then
    tally_die "kafka: port $port is taken by another process"
  fi
  # setsid: the broker outlives this shell and ignores its terminal's signals.
  setsid "${jvm[@]}" kafka.Kafka "$state/server.properties" </dev/null >"$state/stdout.log" 2>&1 &
  echo $! >"$pidfile"
}

# How many nodes run now.
running_count() {
  local i n=0
  for ((i = 1; i <= nodes; i++)); do node "$i"; ! running_pid >/dev/null || n=$((n + 1)); done
  echo "$n"
}

# Waits until node $1 answers on its own port: a KRaft broker takes
# requests only once it caught up with the metadata and was unfenced (the
# cluster's metadata may still list a killed node that is not yet fenced).
wait_node() {
  node "$1"
  local bin=$TALLY_BUILD_DIR/bin/tally-kafka-admin
  [[ -x $bin ]] || tally_build tally-kafka-admin
  # A broker killed with many partitions recovers each log first: on a busy
  # 2-core machine with ~1500 partitions that took more than 90 s.
  for _ in $(seq 1 90); do
    "$bin" --brokers="127.0.0.1:$port" wait --timeout=2s >/dev/null 2>&1 && return 0
    # A node that could not start (a port taken) has exited: say so now.
    running_pid >/dev/null || break
  done
  tail -n 30 "$state/stdout.log" "$state/server.log" >&2 || true
  running_pid >/dev/null || tally_die "kafka: node $1 exited before it answered on 127.0.0.1:$port"
  tally_die "kafka: node $1 did not answer on 127.0.0.1:$port"
}

stop_node() {
  node "$1"
  local pid
  pid=$(running_pid) || { rm -f "$pidfile"; return 0; }
  kill -TERM "$pid"
  for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    tally_log "kafka: node $1 did not stop in 60 s, killing"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

kill_node() {
  node "$1"
  local pid
  if pid=$(running_pid); then
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do tally_alive "$pid" || break; sleep 0.1; done
    ! tally_alive "$pid" || tally_die "kafka: pid $pid still alive after SIGKILL"
    tally_port_released "$port" || tally_die "kafka: port $port still taken after the broker died"
  fi
  rm -f "$pidfile"
}

start() {
  local t0=$SECONDS i all=1
  for ((i = 1; i <= nodes; i++)); do node "$i"; running_pid >/dev/null || all=0; done
  if [[ $all -eq 0 ]]; then
    fetch_jars
    # All at once: a KRaft quorum forms only once a majority runs.
    for ((i = 1; i <= nodes; i++)); do launch_node "$i"; done
  fi
  for ((i = 1; i <= nodes; i++)); do wait_node "$i"; done
  admin --min-brokers="$nodes" wait --timeout=60s
  admin --max-replication="$nodes" topics "$TALLY_ROOT/deploy/kafka/topics.conf"
  [[ $all -eq 1 ]] ||
    tally_log "kafka: $nodes node(s) up on $TALLY_BROKERS in $((SECONDS - t0)) s (logs: $TALLY_STATE/kafka*/server.log)"
}

stop() {
  local i pids=()
  # All at once: stopped one after the other, the last nodes of a cluster
  # lose their quorum and wait for it in their controlled shutdown.
  for ((i = 1; i <= nodes; i++)); do
    node "$i"
    if pid=$(running_pid); then kill -TERM "$pid"; pids+=("$pid"); fi
  done
  for _ in $(seq 1 600); do
    local alive=0
    for pid in "${pids[@]}"; do ! kill -0 "$pid" 2>/dev/null || alive=1; done
    [[ $alive -eq 1 ]] || break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      tally_log "kafka: pid $pid did not stop in 60 s, killing"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  for ((i = 1; i <= nodes; i++)); do node "$i"; rm -f "$pidfile"; done
  tally_log "kafka: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status)
    n=$(running_count)
    [[ $n -gt 0 ]] || { echo "kafka: not running"; exit 1; }
    [[ $n -eq $nodes ]] || { echo "kafka: $n of $nodes node(s) running"; exit 1; }
    admin wait --timeout=5s >/dev/null && echo "kafka: running ($nodes node(s)) on $TALLY_BROKERS" ;;
  kill) for ((i = 1; i <= nodes; i++)); do kill_node "$i"; done ;;
  pid)
    any=0
    for ((i = 1; i <= nodes; i++)); do node "$i"; ! running_pid || any=1; done
    [[ $any -eq 1 ]] || { echo "kafka: not running" >&2; exit 1; } ;;
  start-node)
    [[ -n ${2:-} ]] || tally_die "kafka: start-node N"
    t0=$SECONDS
    fetch_jars
    launch_node "$2"
    wait_node "$2"
    tally_log "kafka: node $2 back in $((SECONDS - t0)) s" ;;
  stop-node) stop_node "${2:-}" ;;
  kill-node) kill_node "${2:-}" ;;
  pid-node) node "${2:-}"; running_pid || { echo "kafka: node $2 not running" >&2; exit 1; } ;;
  wipe) stop; for ((i = 1; i <= nodes; i++)); do node "$i"; rm -rf "$state"; done; rm -f "$TALLY_STATE/kafka-cluster.id" ;;
  *) echo "usage: $0 start|stop|status|kill|pid|wipe|start-node N|stop-node N|kill-node N|pid-node N" >&2; exit 2 ;;
esac
