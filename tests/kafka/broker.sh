#!/usr/bin/env bash
# Start/stop a real single-node Apache Kafka 4.x broker (KRaft combined mode,
# broker+controller in one JVM) for integration tests. Loopback only.
#
#   broker.sh start        <workdir>   -> prints bootstrap address (127.0.0.1:port)
#   broker.sh stop         <workdir>   SIGTERM, then SIGKILL after a timeout; no-op if not running
#   broker.sh kill         <workdir>   SIGKILL at once (crash-style outage)
#   broker.sh restart      <workdir>   stop + start, same ports and same data
#   broker.sh status       <workdir>   exit 0 and print bootstrap if running, else exit 1
#   broker.sh create-topic <workdir> <name> <partitions> [[--config] k=v ...]
#   broker.sh run-class    <workdir> <main-class> [args...]   any Kafka CLI class on the
#                          tools classpath, e.g. org.apache.kafka.tools.ConsoleProducer
#
# Layout of <workdir> (created if missing):
#   lib/broker/          broker jars (Kafka 4.4.0), fetched once with Maven from pom.xml
#   lib/tools/           CLI tool jars (kafka-tools 4.3.1: 4.4.0 is not on Maven Central)
#   server.properties    written on every start; ports picked on the first, kept after
#   data/                log.dirs (metadata log + topic data), formatted once
#   broker.log           broker stdout/stderr + log4j2 output (appended across restarts)
#   broker.pid           pid of the running broker JVM
#   bootstrap            "127.0.0.1:<port>"
#
# Environment knobs (all optional):
#   KAFKA_LIB_DIR          use this jar directory instead of <workdir>/lib, e.g. one cache
#                          shared by several workdirs (fetched there if empty)
#   KAFKA_VERSION          override the broker version in pom.xml (fallbacks: 4.3.1, 4.2.x)
#   KAFKA_TOOLS_VERSION    override the kafka-tools version in pom.xml
#   KAFKA_START_TIMEOUT    seconds to wait for the broker to answer (default 90)
#   KAFKA_STOP_TIMEOUT     seconds to wait after SIGTERM before SIGKILL (default 30)
#   KAFKA_HEAP_OPTS        broker heap (default "-Xms128m -Xmx512m")
set -euo pipefail

# Resolve our own directory so the script works from any working directory.
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POM="$SCRIPT_DIR/pom.xml"

START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
# CLI tools are short-lived: the C1-only JIT and serial GC start faster on 2 cores.
TOOL_JVM_OPTS=(-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true)

die() { echo "broker.sh: $*" >&2; exit 1; }
log() { echo "broker.sh: $*" >&2; }

usage() {
  sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# ---------------------------------------------------------------------------
# Paths for one workdir. Absolute, because the broker and tools get them as
# arguments and the caller may change directories between calls.
set_paths() {
  mkdir -p "$1"
  WORKDIR="$(cd "$1" && pwd)"
  LIB="${KAFKA_LIB_DIR:-$WORKDIR/lib}"
  BROKER_CP="$LIB/broker/*"
  TOOLS_CP="$LIB/tools/*"
  PROPS="$WORKDIR/server.properties"
  DATA="$WORKDIR/data"
  LOGFILE="$WORKDIR/broker.log"
  PIDFILE="$WORKDIR/broker.pid"
  BOOTFILE="$WORKDIR/bootstrap"
  BROKER_LOG4J="$WORKDIR/log4j2-broker.properties"
  TOOL_LOG4J="$WORKDIR/log4j2-tools.properties"
}

# Serialise start/stop on one workdir so two concurrent callers cannot launch
# two brokers on the same data directory. fd 9 stays open until exit.
lock_workdir() {
  exec 9>"$WORKDIR/.lock"
  flock -w 300 9 || die "could not lock $WORKDIR/.lock within 300 s"
}

# ---------------------------------------------------------------------------
# Fetch the jars once. A ".complete" marker is written only after Maven
# succeeded, so an interrupted download is redone instead of used half-done.
# $1 = profile in pom.xml (broker|tools) = subdirectory of $LIB.
fetch_profile() {
  local profile="$1" dest="$LIB/$1"
  if [[ -f "$dest/.complete" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (apt-get install -y maven)"
  log "fetching Kafka $profile jars into $dest (one-time, needs Maven Central)"
  local tmp="$dest.tmp.$$"
  rm -rf "$tmp"
  local -a props=()
  [[ -n "${KAFKA_VERSION:-}" ]] && props+=(-Dkafka.version="$KAFKA_VERSION")
  [[ -n "${KAFKA_TOOLS_VERSION:-}" ]] && props+=(-Dkafka.tools.version="$KAFKA_TOOLS_VERSION")
  # -B/-q/style.color: no progress bars or colour codes in CI logs.
  if ! mvn -B -q -Dstyle.color=never -f "$POM" -P "$profile" "${props[@]}" \
       dependency:copy-dependencies -DoutputDirectory="$tmp" >&2; then
    rm -rf "$tmp"
    die "mvn dependency:copy-dependencies -P $profile failed"
  fi
  touch "$tmp/.complete"
  rm -rf "$dest"
  mv "$tmp" "$dest"
}

fetch_jars() {
  command -v java >/dev/null || die "java not found (apt-get install -y openjdk-17-jre-headless)"
  mkdir -p "$LIB"
  fetch_profile broker
  fetch_profile tools
}

# ---------------------------------------------------------------------------
# Is something listening on port $1 (any local address)? Matching is done in
# awk alone: with pipefail, "| grep -q" can fail through SIGPIPE upstream.
port_in_use() {
  ss -Htln 2>/dev/null | awk -v p="$1" '
    { n = split($4, a, ":"); if (a[n] == p) found = 1 }
    END { exit !found }'
}

# Pick a free port outside the kernel's ephemeral range (32768-60999 by
# default), so that a port chosen now is not taken by some client socket by
# the time `restart` needs it again.
pick_port() {
  local p _
  for _ in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 12000 ))
    [[ "$p" == "${1:-}" ]] && continue  # caller asked for a different one
    if ! port_in_use "$p"; then
      echo "$p"
      return 0
    fi
  done
  die "no free TCP port found in 20000-31999"
}

# Random KRaft cluster id: a base64url-encoded 16-byte UUID without padding,
# which is what `kafka-storage random-uuid` prints. Doing it in bash saves one
# JVM start. Kafka avoids ids starting with '-' (they look like CLI flags).
random_cluster_id() {
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ "$id" != -* ]] && { echo "$id"; return 0; }
  done
}

# ---------------------------------------------------------------------------
# log4j2 configs. Kafka 4 dropped log4j 1.x; without a configuration log4j2
# prints a "no configuration found" warning and only logs errors.
write_log4j_configs() {
  # Broker: everything at INFO to stdout, which start() redirects to broker.log.
  cat >"$BROKER_LOG4J" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
# The per-request and state-change chatter is not useful in test logs.
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
EOF
  # CLI tools: only warnings, on stderr, so their stdout stays parseable.
  cat >"$TOOL_LOG4J" <<'EOF'
status = warn
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
EOF
}

# Run a Kafka CLI main class (kafka-tools classpath, quiet logging).
run_tool() {
  java "${TOOL_JVM_OPTS[@]}" -Dlog4j2.configurationFile="$TOOL_LOG4J" \
    -cp "$TOOLS_CP" "$@"
}

# Same, killed after $1 seconds (a tool must never hang the test run).
run_tool_timeout() {
  local secs="$1"
  shift
  timeout "$secs" java "${TOOL_JVM_OPTS[@]}" -Dlog4j2.configurationFile="$TOOL_LOG4J" \
    -cp "$TOOLS_CP" "$@"
}

# ---------------------------------------------------------------------------
# Write server.properties for KRaft combined mode. Ports are picked on the very
# first start only: a restart must keep them (clients under test reconnect to
# the same address), so it passes them in and gets this script's settings.
write_server_properties() {
  local port="${1:-}" cport="${2:-}"
  [[ -n "$port" ]] || port="$(pick_port)"
  [[ -n "$cport" ]] || cport="$(pick_port "$port")"
  cat >"$PROPS" <<EOF
# Generated by tests/kafka/broker.sh on $(date -u +%FT%TZ); rewritten with the
# same ports on restart.
# KRaft combined mode: this JVM is both the broker and the only controller.
process.roles=broker,controller
node.id=1

# Kafka 4 dynamic quorum (KIP-853): the controller is found through
# controller.quorum.bootstrap.servers and the storage is formatted with
# --standalone. (controller.quorum.voters would be the static alternative;
# the two must not be combined with --standalone.)
controller.quorum.bootstrap.servers=127.0.0.1:$cport
controller.listener.names=CONTROLLER

# Loopback only. The CONTROLLER listener is advertised too, like Kafka's own
# config/server.properties does, so the dynamic quorum knows its endpoint.
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT

# Data (topic logs and the __cluster_metadata log) under the workdir.
log.dirs=$DATA

# Single node: every internal topic must be satisfiable with one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Fewer partitions for internal topics: creating 50 of them on the first
# consumer-group use is slow on a small machine and buys nothing here.
offsets.topic.num.partitions=4
transaction.state.log.num.partitions=4

# Tests create their topics explicitly; a typo must fail, not auto-create.
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
min.insync.replicas=1

# Transactions past their timeout are aborted within a second instead of ten:
# the durability tests stall a daemon past its timeout and wait for this.
transaction.abort.timed.out.transaction.cleanup.interval.ms=1000

# Consumer groups start at once instead of waiting 3 s for more members.
group.initial.rebalance.delay.ms=0

# After a SIGKILL (broker.sh kill), the restarted node is refused with
# DUPLICATE_BROKER_REGISTRATION until the old incarnation's session expires
# (default 9 s). A shorter session makes crash/restart tests ~5 s faster; the
# heartbeat is in-process, so 5 s still tolerates a busy 2-core machine.
broker.session.timeout.ms=5000
broker.heartbeat.interval.ms=1000
EOF
}

# Format data/ once with a fresh cluster id. meta.properties marks a
# formatted directory; a half-written one from a failed attempt is wiped.
format_storage() {
  if [[ -f "$DATA/meta.properties" ]]; then
    return 0
  fi
  rm -rf "$DATA"
  local cid
  cid="$(random_cluster_id)"
  log "formatting $DATA (cluster id $cid)"
  # StorageTool lives in the broker jar (kafka_2.13), so use that classpath.
  java "${TOOL_JVM_OPTS[@]}" -Dlog4j2.configurationFile="$TOOL_LOG4J" -cp "$BROKER_CP" \
    kafka.tools.StorageTool format --config "$PROPS" \
    --cluster-id "$cid" --standalone >>"$LOGFILE" 2>&1 \
    || { tail -n 30 "$LOGFILE" >&2; die "storage format failed"; }
}

# ---------------------------------------------------------------------------
# Is the pid in broker.pid alive and really our broker (not a reused pid)?
broker_pid() {
  [[ -f "$PIDFILE" ]] || return 1
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # cmdline must name kafka.Kafka and this workdir's server.properties.
  # (grep without -q reads all input, so no SIGPIPE under pipefail)
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -F "kafka.Kafka $PROPS" >/dev/null || return 1
  echo "$pid"
}

bootstrap_addr() {
  local port
  port="$(sed -n 's|^listeners=PLAINTEXT://127\.0\.0\.1:\([0-9]*\),.*|\1|p' "$PROPS")"
  [[ -n "$port" ]] || die "cannot read the PLAINTEXT port from $PROPS"
  echo "127.0.0.1:$port"
}

# ---------------------------------------------------------------------------
cmd_start() {
  set_paths "$1"
  lock_workdir

  # Already running (second call, or a test that did not stop): reuse it.
  if broker_pid >/dev/null; then
    cat "$BOOTFILE"
    return 0
  fi
  rm -f "$PIDFILE"

  fetch_jars
  write_log4j_configs
  if [[ -f "$PROPS" ]]; then
    local old_port old_cport
    old_port="$(bootstrap_addr)"
    old_cport="$(sed -n 's|^controller.quorum.bootstrap.servers=127\.0\.0\.1:\([0-9]*\)$|\1|p' "$PROPS")"
    write_server_properties "${old_port##*:}" "$old_cport"
  else
    write_server_properties
  fi
  format_storage

  local boot port cport p
  boot="$(bootstrap_addr)"
  port="${boot##*:}"
  cport="$(sed -n 's|^controller.quorum.bootstrap.servers=127\.0\.0\.1:\([0-9]*\)$|\1|p' "$PROPS")"
  # On restart the ports are fixed; fail clearly if someone else took one.
  for p in "$port" "$cport"; do
    port_in_use "$p" && die "port $p (from $PROPS) is already in use by another process"
  done

  # Only look at log lines written by this launch when waiting below.
  touch "$LOGFILE"
  local log_offset
  log_offset="$(stat -c %s "$LOGFILE")"
  echo "==== broker.sh start $(date -u +%FT%TZ) ====" >>"$LOGFILE"

  # Launch in the background, detached from the caller's stdin/stdout so a
  # test runner waiting on our output does not also wait on the JVM. 9>&-:
  # the JVM must not inherit the workdir lock, or the next call would block.
  # shellcheck disable=SC2086  # HEAP_OPTS is a list of JVM flags
  nohup java $HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$BROKER_LOG4J" \
    -Dkafka.logs.dir="$WORKDIR" \
    -cp "$BROKER_CP" kafka.Kafka "$PROPS" \
    </dev/null >>"$LOGFILE" 2>&1 9>&- &
  local pid=$!
  echo "$pid" >"$PIDFILE"

  # Wait (bounded) until the broker has finished starting and answers a real
  # request. The cheap checks (process alive, "Kafka Server started" in the
  # log) gate the expensive one (a JVM running TopicCommand --list).
  local deadline=$(( SECONDS + START_TIMEOUT ))
  local ready=0
  while (( SECONDS < deadline )); do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "broker process $pid exited during start-up; last log lines:"
      tail -n 40 "$LOGFILE" >&2
      rm -f "$PIDFILE"
      exit 1
    fi
    if tail -c +"$(( log_offset + 1 ))" "$LOGFILE" | grep -F 'Kafka Server started' >/dev/null; then
      if run_tool_timeout 60 org.apache.kafka.tools.TopicCommand \
           --bootstrap-server "$boot" --list >/dev/null 2>"$WORKDIR/probe.err"; then
        ready=1
        break
      fi
      cat "$WORKDIR/probe.err" >>"$LOGFILE"
      # A broken classpath will not heal by waiting: fail at once.
      if grep -qE 'NoClassDefFoundError|ClassNotFoundException|NoSuchMethodError' "$WORKDIR/probe.err"; then
        tail -n 20 "$WORKDIR/probe.err" >&2
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$PIDFILE"
        die "the topic tool cannot run (classpath $TOOLS_CP)"
      fi
    fi
    sleep 0.5
  done

  if (( ! ready )); then
    log "broker did not answer on $boot within ${START_TIMEOUT}s; last log lines:"
    tail -n 40 "$LOGFILE" >&2
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$PIDFILE"
    exit 1
  fi

  echo "$boot" >"$BOOTFILE"
  echo "$boot"
}

# Stop the broker: SIGTERM lets Kafka do a controlled shutdown and flush; if
# it hangs, SIGKILL. Safe to call when nothing runs. $2 = signal to start with.
cmd_stop() {
  set_paths "$1"
  local first_signal="${2:-TERM}"
  lock_workdir
  local pid
  if ! pid="$(broker_pid)"; then
    rm -f "$PIDFILE"
    return 0
  fi
  kill "-$first_signal" "$pid" 2>/dev/null || true
  local deadline=$(( SECONDS + STOP_TIMEOUT ))
  while kill -0 "$pid" 2>/dev/null && (( SECONDS < deadline )); do
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "broker $pid did not stop within ${STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    # A killed process can take a moment to release its sockets and files.
    deadline=$(( SECONDS + 10 ))
    while kill -0 "$pid" 2>/dev/null && (( SECONDS < deadline )); do
      sleep 0.1
    done
  fi
  rm -f "$PIDFILE"
}

cmd_status() {
  set_paths "$1"
  if broker_pid >/dev/null; then
    cat "$BOOTFILE"
  else
    return 1
  fi
}

cmd_create_topic() {
  set_paths "$1"
  local name="$2" partitions="$3"
  shift 3
  [[ "$partitions" =~ ^[0-9]+$ ]] || die "partitions must be a number, got '$partitions'"
  broker_pid >/dev/null || die "no broker running in $WORKDIR (run: broker.sh start $WORKDIR)"
  # Accept both "k=v" and "--config k=v".
  local -a cfg=()
  while (( $# )); do
    case "$1" in
      --config) shift; (( $# )) || die "--config needs k=v"; cfg+=(--config "$1") ;;
      *=*)      cfg+=(--config "$1") ;;
      *)        die "unexpected argument '$1' (want k=v)" ;;
    esac
    shift
  done
  run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$(cat "$BOOTFILE")" \
    --create --topic "$name" --partitions "$partitions" --replication-factor 1 \
    "${cfg[@]}"
}

cmd_run_class() {
  set_paths "$1"
  shift
  [[ -f "$LIB/tools/.complete" ]] || die "no jars in $LIB/tools (run: broker.sh start $WORKDIR)"
  [[ -f "$TOOL_LOG4J" ]] || write_log4j_configs
  run_tool "$@"
}

# ---------------------------------------------------------------------------
main() {
  (( $# >= 2 )) || usage
  local cmd="$1"
  shift
  case "$cmd" in
    start)        (( $# == 1 )) || usage; cmd_start "$1" ;;
    stop)         (( $# == 1 )) || usage; cmd_stop "$1" TERM ;;
    kill)         (( $# == 1 )) || usage; cmd_stop "$1" KILL ;;
    restart)      (( $# == 1 )) || usage
                  # Same server.properties and data/, hence same ports and topics.
                  cmd_stop "$1" TERM
                  flock -u 9  # cmd_start takes the lock again
                  cmd_start "$1" ;;
    status)       (( $# == 1 )) || usage; cmd_status "$1" ;;
    create-topic) (( $# >= 3 )) || usage; cmd_create_topic "$@" ;;
    run-class)    (( $# >= 2 )) || usage; cmd_run_class "$@" ;;
    *)            usage ;;
  esac
}

main "$@"
