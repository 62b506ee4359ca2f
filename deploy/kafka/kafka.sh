#!/usr/bin/env bash
# A real Apache Kafka 4.x broker for tests: one KRaft node in combined mode
# (broker + controller), its jars fetched from Maven Central by Maven, its
# state under deploy/kafka/.run/, listening on 127.0.0.1 only.
#
#   deploy/kafka/kafka.sh install        fetch Kafka + runtime deps into .cache/libs (idempotent)
#   deploy/kafka/kafka.sh start [PORT]   format fresh storage, start, wait until it serves
#   deploy/kafka/kafka.sh stop           stop the broker (TERM, then KILL) and remove .run/
#   deploy/kafka/kafka.sh status         print whether it runs (exit 0) or not (exit 3)
#   deploy/kafka/kafka.sh logs [N]       tail the broker log
#   deploy/kafka/kafka.sh brokers        print the bootstrap address (for LOGMESH_TEST_BROKERS)
#   deploy/kafka/kafka.sh tool CLASS ARGS...  run a Kafka CLI class on the rig's classpath, e.g.
#       kafka.sh tool org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:19092 --list
#
# Environment:
#   LOGMESH_KAFKA_PORT           client port (default 19092); the controller uses PORT+1
#   LOGMESH_KAFKA_START_TIMEOUT  seconds to wait for the broker to serve (default 120)
#   LOGMESH_KAFKA_HEAP           broker heap (default 512m)
#   JAVA_HOME                    Java 17+ to use (default: java on PATH)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POM="$HERE/pom.xml"
CACHE="$HERE/.cache"
LIBS="$CACHE/libs"
STAMP="$LIBS/.installed"
RUN="$HERE/.run"
PIDFILE="$RUN/kafka.pid"
PORTFILE="$RUN/port"
LOGDIR="$RUN/logs"

# The pinned version lives in pom.xml (<kafka.version>); read it from there so
# there is one place to change.
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n1)"
[ -n "$KAFKA_VERSION" ] || { echo "kafka.sh: no <kafka.version> in $POM" >&2; exit 1; }

# maven-dependency-plugin pinned: Maven 3.8's default (2.8) is ancient.
DEP_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

log() { echo "kafka.sh: $*" >&2; }
die() { log "$*"; exit 1; }

java_bin() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    echo "$JAVA_HOME/bin/java"
  else
    command -v java || die "java not found (Java 17+ needed; set JAVA_HOME or put java on PATH)"
  fi
}

check_java() {
  local j v
  j="$(java_bin)"
  v="$("$j" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
  case "$v" in
    1.*|9|1[0-6]) die "Kafka $KAFKA_VERSION needs Java 17+, $j is $v" ;;
  esac
}

installed_stamp() {
  # Installed == libs exist for this exact pom.xml (version + dependency list).
  echo "kafka=$KAFKA_VERSION pom=$(sha256sum "$POM" | cut -d' ' -f1)"
}

cmd_install() {
  if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(installed_stamp)" ]; then
    log "Kafka $KAFKA_VERSION already installed in $LIBS"
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (Maven 3.8+ needed to fetch Kafka from Maven Central)"
  check_java
  log "installing Apache Kafka $KAFKA_VERSION and its runtime dependencies into $LIBS (Maven)"
  local t0=$SECONDS tmp="$CACHE/libs.tmp.$$"
  mkdir -p "$CACHE"
  rm -rf "$tmp"
  # -B: no colours or prompts (CI has no stdin). includeScope=runtime: the
  # broker's deps are runtime-scoped in the kafka_2.13 POM.
  # Output goes to a log (Maven 3.8 prints colour codes even with -B -q),
  # shown only on failure.
  local mvnlog="$CACHE/mvn-install.log"
  if ! mvn -B --no-transfer-progress -Dstyle.color=never -f "$POM" \
      "$DEP_PLUGIN:copy-dependencies" \
      -DincludeScope=runtime -DoutputDirectory="$tmp" </dev/null >"$mvnlog" 2>&1; then
    tail -n 60 "$mvnlog" >&2
    rm -rf "$tmp"
    die "mvn failed to fetch Kafka $KAFKA_VERSION (full output: $mvnlog)"
  fi
  [ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ] || { rm -rf "$tmp"; die "kafka_2.13-$KAFKA_VERSION.jar missing after mvn"; }
  installed_stamp >"$tmp/.installed"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  log "installed $(ls "$LIBS"/*.jar | wc -l) jars ($(du -sh "$LIBS" | cut -f1)) in $((SECONDS - t0))s"
}

require_installed() {
  [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(installed_stamp)" ] \
    || die "Kafka $KAFKA_VERSION not installed: run '$0 install' first"
}

# pid of the running broker, if the pid file names a live kafka.Kafka of ours.
running_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid
  pid="$(cat "$PIDFILE")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # Guard against a recycled pid: it must be our broker, started with our config.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "kafka.Kafka $RUN/server.properties" || return 1
  echo "$pid"
}

port_open() { timeout 2 bash -c "</dev/tcp/127.0.0.1/$1" 2>/dev/null; }

tail_logs() {
  local n="${1:-80}"
  for f in "$LOGDIR/server.log" "$LOGDIR/stdout.log"; do
    [ -s "$f" ] || continue
    echo "----- last $n lines of $f -----" >&2
    tail -n "$n" "$f" >&2
  done
}

random_cluster_id() {
  # A Kafka Uuid: 16 random bytes, URL-safe base64 without padding (22 chars).
  # Like Uuid.randomUuid, avoid ids starting with '-' (they read as CLI flags).
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [ "${id:0:1}" != "-" ] && { echo "$id"; return; }
  done
}

write_config() {
  local port=$1 cport=$2
  mkdir -p "$RUN/data" "$LOGDIR"
  cat >"$RUN/server.properties" <<EOF
# Generated by deploy/kafka/kafka.sh: single-node KRaft test broker.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$RUN/data

# One node: every internal topic has one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
default.replication.factor=1

# Tests: explicit topics only, one partition unless asked, no rebalance delay,
# and fewer internal partitions than production's 50 so the first group or
# transaction does not wait for 50 partitions to be created.
auto.create.topics.enable=false
num.partitions=1
group.initial.rebalance.delay.ms=0
offsets.topic.num.partitions=10
transaction.state.log.num.partitions=10

# A 2-core machine.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
EOF
  cat >"$RUN/log4j2.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <File name="server" fileName="$LOGDIR/server.log">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Logger name="kafka" level="INFO"/>
    <Logger name="org.apache.kafka" level="INFO"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Root level="INFO"><AppenderRef ref="server"/></Root>
  </Loggers>
</Configuration>
EOF
}

JAVA_COMMON=(-Djava.awt.headless=true)

run_tool() {
  # run_tool CLASS ARGS...: a Kafka CLI class on the rig's classpath, logging to stderr at WARN.
  local cls=$1; shift
  "$(java_bin)" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC "${JAVA_COMMON[@]}" \
    -Dlog4j2.level=WARN -Dlog4j2.configurationFile="$HERE/tools-log4j2.xml" \
    -cp "$LIBS/*" "$cls" "$@"
}

cmd_start() {
  local port="${1:-${LOGMESH_KAFKA_PORT:-19092}}"
  [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1024 ] && [ "$port" -lt 65535 ] || die "bad port: $port"
  local cport=$((port + 1)) timeout="${LOGMESH_KAFKA_START_TIMEOUT:-120}" pid
  require_installed
  check_java
  if pid="$(running_pid)"; then
    if [ "$(cat "$PORTFILE" 2>/dev/null)" = "$port" ]; then
      log "already running (pid $pid) on 127.0.0.1:$port"
      return 0
    fi
    die "already running (pid $pid) on 127.0.0.1:$(cat "$PORTFILE" 2>/dev/null); run '$0 stop' first"
  fi
  for p in "$port" "$cport"; do
    port_open "$p" && die "127.0.0.1:$p is already in use by something else (pick another: $0 start PORT)"
  done

  local t0=$SECONDS
  rm -rf "$RUN"
  write_config "$port" "$cport"
  echo "$port" >"$PORTFILE"

  local cluster_id
  cluster_id="$(random_cluster_id)"
  log "formatting KRaft storage in $RUN/data (cluster $cluster_id)"
  if ! run_tool kafka.tools.StorageTool format --cluster-id "$cluster_id" \
      --config "$RUN/server.properties" --ignore-formatted >"$LOGDIR/format.log" 2>&1; then
    cat "$LOGDIR/format.log" >&2
    die "formatting storage failed"
  fi

  log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$port (controller 127.0.0.1:$cport)"
  # setsid + nohup: the broker outlives this script (and its terminal); stop it with '$0 stop'.
  setsid nohup "$(java_bin)" \
    -Xms"${LOGMESH_KAFKA_HEAP:-512m}" -Xmx"${LOGMESH_KAFKA_HEAP:-512m}" \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent "${JAVA_COMMON[@]}" \
    -Dkafka.logs.dir="$LOGDIR" -Dlog4j2.configurationFile="$RUN/log4j2.xml" \
    -cp "$LIBS/*" kafka.Kafka "$RUN/server.properties" \
    >"$LOGDIR/stdout.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PIDFILE"

  # Wait: the port accepts, the log says the server started, and a real
  # metadata request (list topics) answers.
  local deadline=$((SECONDS + timeout)) stage=port
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail_logs
      rm -f "$PIDFILE"
      die "broker exited during startup (logs above; kept in $LOGDIR)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail_logs
      die "broker not serving after ${timeout}s (pid $pid still running; '$0 stop' to kill it)"
    fi
    case $stage in
      port) port_open "$port" && stage=started ;;
      started) grep -q "Kafka Server started" "$LOGDIR/server.log" 2>/dev/null && stage=metadata ;;
      metadata)
        if run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$port" \
            --list >/dev/null 2>"$LOGDIR/ready-check.log"; then
          break
        fi ;;
    esac
    [ "$stage" = metadata ] || sleep 0.5
  done
  log "Kafka $KAFKA_VERSION serving on 127.0.0.1:$port (pid $pid) after $((SECONDS - t0))s; logs in $LOGDIR"
}

cmd_stop() {
  local pid
  if pid="$(running_pid)"; then
    log "stopping broker (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 60; i++)); do  # 30 s for a controlled shutdown
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "broker still alive after 30s; sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 20; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    fi
  else
    log "not running"
  fi
  rm -rf "$RUN"
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    echo "running: Kafka $KAFKA_VERSION pid $pid on 127.0.0.1:$(cat "$PORTFILE" 2>/dev/null)"
  else
    echo "not running"
    return 3
  fi
}

cmd_brokers() {
  running_pid >/dev/null || die "not running"
  echo "127.0.0.1:$(cat "$PORTFILE")"
}

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

case "${1:-}" in
  install) cmd_install ;;
  start) shift; cmd_start "$@" ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  logs) tail -n "${2:-100}" "$LOGDIR/server.log" ;;
  brokers) cmd_brokers ;;
  tool) shift; [ $# -ge 1 ] || usage; require_installed; run_tool "$@" ;;
  version) echo "$KAFKA_VERSION" ;;
  *) usage ;;
esac
