#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft) for local runs and tests.
#   kafka.sh start    fetch the jars once (mvn, cached), format storage once,
#                     start on 127.0.0.1:19092, wait for metadata, create topics
#   kafka.sh stop     stop it cleanly (SIGTERM, then SIGKILL after 60 s)
#   kafka.sh status   exit 0 when running and answering metadata requests
#   kafka.sh kill     SIGKILL, and wait until it is gone (tests of broker loss)
#   kafka.sh pid      print the broker's pid (exit 1 when not running)
#   kafka.sh wipe     stop and delete the broker's state folder
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

state=$TALLY_STATE/kafka
# Keyed by the pom too: a changed dependency list fetches a fresh set.
pom_stamp=$(sha256sum "$TALLY_ROOT/deploy/kafka/pom.xml" | cut -c1-12)
libs=$TALLY_CACHE/kafka-$TALLY_KAFKA_VERSION-$pom_stamp/libs
pidfile=$state/kafka.pid
port=${TALLY_BROKERS##*:}
controller_port=$((port + 1))

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
  mkdir -p "$state/data"
  cat >"$state/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$state/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
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

start() {
  if running_pid >/dev/null; then
    admin wait --timeout=60s && admin topics "$TALLY_ROOT/deploy/kafka/topics.conf"
    return
  fi
  local t0=$SECONDS
  fetch_jars
  write_config
  java_args
  if [[ ! -f $state/data/meta.properties ]]; then
    local cluster_id
    # base64url of 16 random bytes; one that starts with '-' would be read
    # as an option by the storage tool (1 start in 64 failed that way).
    cluster_id=-
    while [[ $cluster_id == -* ]]; do
      cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    done
    "${jvm[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$state/server.properties" \
      >"$state/format.log" 2>&1 || { cat "$state/format.log" >&2; tally_die "kafka: storage format failed"; }
  fi
  if ss -ltn "sport = :$port" 2>/dev/null | grep -q LISTEN; then
    tally_die "kafka: port $port is taken by another process"
  fi
  # setsid: the broker outlives this shell and ignores its terminal's signals.
  setsid "${jvm[@]}" kafka.Kafka "$state/server.properties" </dev/null >"$state/stdout.log" 2>&1 &
  echo $! >"$pidfile"
  # A broker killed with many partitions recovers each log first: on a busy
  # 2-core machine with ~1500 partitions that took more than 90 s.
  admin wait --timeout=180s || { tail -n 30 "$state/stdout.log" "$state/server.log" >&2 || true; tally_die "kafka: broker did not answer on $TALLY_BROKERS"; }
  admin topics "$TALLY_ROOT/deploy/kafka/topics.conf"
  tally_log "kafka: broker up on $TALLY_BROKERS in $((SECONDS - t0)) s (log: $state/server.log)"
}

stop() {
  local pid
  pid=$(running_pid) || { rm -f "$pidfile"; return 0; }
  kill -TERM "$pid"
  for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    tally_log "kafka: did not stop in 60 s, killing"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  tally_log "kafka: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status)
    pid=$(running_pid) || { echo "kafka: not running"; exit 1; }
    admin wait --timeout=5s >/dev/null && echo "kafka: running (pid $pid) on $TALLY_BROKERS" ;;
  kill)
    if pid=$(running_pid); then
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 300); do tally_alive "$pid" || break; sleep 0.1; done
      ! tally_alive "$pid" || tally_die "kafka: pid $pid still alive after SIGKILL"
      tally_port_released "$port" || tally_die "kafka: port $port still taken after the broker died"
    fi
    rm -f "$pidfile" ;;
  pid) running_pid || { echo "kafka: not running" >&2; exit 1; } ;;
  wipe) stop; rm -rf "$state" ;;
  *) echo "usage: $0 start|stop|status|kill|pid|wipe" >&2; exit 2 ;;
esac
