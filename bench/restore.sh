#!/usr/bin/env bash
# Restore time through a real Apache Kafka broker (the test harness's,
# tests/kafka/broker.sh): a compacted changelog topic is filled with what
# ARTICLES articles leave in it after compaction (bench/changelog_fill.cc:
# ~30% copies, stories of ~8, shingle sets for the last 131072 non-copies),
# then `storyd run` starts on it and we measure
#   - the daemon's own "restored N records in S s" line (reading and applying
#     the changelog),
#   - wall time from process start until /readyz stops saying "restoring",
#     and until it answers 200 (restored and the input group joined),
#   - VmRSS (and VmHWM) of the daemon once restored, and the CPU seconds it
#     had used by then (all threads, and its main thread, which applies the
#     records), since wall time depends on what else runs on the machine
#     (the 1-minute load average at the start is printed too),
# then SIGTERM it. Prints a Markdown table.
# Usage: bench/restore.sh [articles=100000]
# Environment:
#   BUILD_DIR   build tree, absolute or relative to the repository (default
#               build, built with deploy/build.sh; another tree is configured
#               RelWithDebInfo if it has no CMakeCache.txt)
#   BROKER_DIR  broker workdir (default build/kafka-restore-broker); a broker
#               already running there is reused and left running, else one
#               is started (heap KAFKA_HEAP_OPTS, default -Xms512m -Xmx1g)
#               and stopped at the end
#   INSTANCE    the daemon's instance_id (default fill, the fill's writer: a
#               restart of the instance that wrote the changelog)
#   FILL_ARGS   more options for changelog_fill, e.g. --zipf-offset=1
#   PERF_OUT    if set, `perf record` the daemon from start to restored into
#               this file (perf report -i FILE)
#   KEEP_TOPICS=1  leave the run's topics on the broker
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/bench/bench_lib.sh"
articles=${1:-100000}
build_dir=${BUILD_DIR:-build}
[[ "$build_dir" = /* ]] || build_dir="$root/$build_dir"
broker_dir=${BROKER_DIR:-$root/build/kafka-restore-broker}
instance=${INSTANCE:-fill}
export KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms512m -Xmx1g}
broker="$root/tests/kafka/broker.sh"
storyd="$build_dir/bin/storyd"
fill="$build_dir/bin/changelog_fill"
work=$(mktemp -d)
pid=""
perf_pid=""
started_broker=0
run="r$RANDOM$RANDOM"
brokers=""

cleanup() {
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null || true; fi
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  if [ "$started_broker" = 1 ]; then
    "$broker" stop "$broker_dir" >/dev/null 2>&1 || true
  elif [ -n "$brokers" ] && [ "${KEEP_TOPICS:-0}" != 1 ]; then
    "$broker" run-class "$broker_dir" org.apache.kafka.tools.TopicCommand \
      --bootstrap-server "$brokers" --delete --topic "$run-.*" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ "$build_dir" = "$root/build" ]; then
  "$root/deploy/build.sh" storyd changelog_fill >/dev/null
else
  "$root/deploy/setup.sh"
  if [ ! -f "$build_dir/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  fi
  cmake --build "$build_dir" --target storyd changelog_fill >/dev/null
fi

if brokers=$("$broker" status "$broker_dir" 2>/dev/null); then
  echo "restore.sh: reusing the broker at $brokers ($broker_dir)" >&2
else
  brokers=$("$broker" start "$broker_dir")
  started_broker=1
fi
topic() { "$broker" create-topic "$broker_dir" "$run-$1" "$2" "${@:3}" >/dev/null; }
topic changelog 1 cleanup.policy=compact
topic in 1
topic out 1
topic dlq 1

echo "restore.sh: filling $run-changelog with $articles articles" >&2
# shellcheck disable=SC2086  # FILL_ARGS is a list of options
fill_line=$("$fill" "$brokers" "$run-changelog" "$articles" ${FILL_ARGS:-})
echo "$fill_line" >&2
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$fill_line"; }
records=$(field records)
value_bytes=$(field bytes)
# The segments' bytes (the index files are preallocated, so not du).
disk_bytes=$(cat "$broker_dir/data/$run-changelog-0/"*.log | wc -c)

port=$(bench_free_port)
cat > "$work/storyd.toml" <<TOML
[kafka]
input_topic = "$run-in"
output_topic = "$run-out"
dead_letter_topic = "$run-dlq"
changelog_topic = "$run-changelog"
group_id = "$run"
instance_id = "$instance"
"bootstrap.servers" = "$brokers"
[metrics]
address = "127.0.0.1"
port = $port
TOML

now() { date +%s.%N; }
readyz() {  # -> "<code> <body>"
  curl -s --max-time 2 -w ' %{http_code}' "http://127.0.0.1:$port/readyz" 2>/dev/null || true
}
kib() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$pid/status"; }
ticks=$(getconf CLK_TCK)
cpu_s() {  # /proc/.../stat -> utime + stime in seconds (comm has no spaces)
  awk -v t="$ticks" '{ printf "%.2f", ($14 + $15) / t }' "$1"
}

sync
load=$(cut -d' ' -f1 /proc/loadavg)
start=$(now)
"$storyd" run --config "$work/storyd.toml" 2>"$work/storyd.log" &
pid=$!
if [ -n "${PERF_OUT:-}" ]; then
  perf record -g --call-graph dwarf,16384 -F 499 -p "$pid" -o "$PERF_OUT" \
    >"$work/perf.log" 2>&1 &
  perf_pid=$!
fi
restored_at="" ready_at="" rss_kib="" hwm_kib="" cpu="" main_cpu=""
deadline=$(( SECONDS + 3600 ))
while [ -z "$ready_at" ]; do
  kill -0 "$pid" 2>/dev/null || { cat "$work/storyd.log" >&2; echo "restore.sh: storyd exited" >&2; exit 1; }
  (( SECONDS < deadline )) || { echo "restore.sh: not ready within an hour" >&2; exit 1; }
  answer=$(readyz)
  if [ -z "$restored_at" ] && [[ "$answer" =~ (ready|joining\ group) ]] \
      && [[ "$answer" != *restoring* ]]; then
    restored_at=$(now)
    rss_kib=$(kib VmRSS)
    hwm_kib=$(kib VmHWM)
    cpu=$(cpu_s "/proc/$pid/stat")
    main_cpu=$(cpu_s "/proc/$pid/task/$pid/stat")
    if [ -n "$perf_pid" ]; then
      kill -INT "$perf_pid"
      wait "$perf_pid" || true
      perf_pid=""
    fi
  fi
  [[ "$answer" == *" 200" ]] && ready_at=$(now)
  [ -z "$ready_at" ] && sleep 0.05
done
kill -TERM "$pid"
wait "$pid" || true
pid=""

restored_line=$(grep -m1 'storyd: restored ' "$work/storyd.log" || true)
[ -n "$restored_line" ] || { cat "$work/storyd.log" >&2; echo "restore.sh: no 'restored' line" >&2; exit 1; }
echo "$restored_line" >&2
restore_s=$(sed -n 's/.* in \([0-9.]*\) s .*/\1/p' <<<"$restored_line")
restore_rate=$(sed -n 's/.*(\([0-9]*\) records\/s).*/\1/p' <<<"$restored_line")
restored_records=$(sed -n 's/.*restored \([0-9]*\) records.*/\1/p' <<<"$restored_line")
[ "$restored_records" = "$records" ] ||
  echo "restore.sh: warning: filled $records records, restored $restored_records" >&2

awk -v a="$articles" -v r="$records" -v vb="$value_bytes" -v db="$disk_bytes" \
    -v rs="$restore_s" -v rr="$restore_rate" -v st="$start" -v re="$restored_at" \
    -v rd="$ready_at" -v rss="$rss_kib" -v hwm="$hwm_kib" -v cpu="$cpu" \
    -v mcpu="$main_cpu" -v load="$load" 'BEGIN {
  print "| articles | changelog records | keys+values MB | on disk MB (lz4) | restore s (daemon) | records/s | start to restored s | start to /readyz 200 s | CPU s to restored (main thread) | RSS restored MB | peak RSS MB | load avg |"
  print "|---|---|---|---|---|---|---|---|---|---|---|---|"
  printf "| %d | %d | %.0f | %.0f | %.2f | %d | %.2f | %.2f | %.1f (%.1f) | %.0f | %.0f | %s |\n",
    a, r, vb / 1e6, db / 1e6, rs, rr, re - st, rd - st, cpu, mcpu, rss / 1024,
    hwm / 1024, load
}'
