#!/usr/bin/env bash
# The Kafka daemon's resident memory over a long run with expiry on: does it
# level off? Feeds a synthetic stream (bench/synthetic_stream.py: 15 random
# dev-corpus sentences an article, 30 % edited copies) into an input topic of
# the test harness's Apache Kafka broker (tests/kafka/broker.sh, a fresh log
# directory), runs `storyd run` (exactly once, the default) on it with small
# index capacities so that expiry starts early, samples VmRSS twice a second
# until every output has arrived, then stops the daemon with SIGTERM. Prints
# RSS at half time, at the end and at its peak, and plots it to
# build/bench/daemon_rss.png (gnuplot, installed from Debian if missing).
# Usage: bench/daemon_memory.sh [articles=600000]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/bench/bench_lib.sh"
articles=${1:-600000}
storyd="$root/build/bin/storyd"
broker_dir="$root/build/kafka-memory-broker"
out_dir="$root/build/bench"
work=$(mktemp -d)
mkdir -p "$out_dir"
trap 'bench_cleanup "$broker_dir" "$work"; rm -rf "$broker_dir/data"' EXIT
"$root/deploy/build.sh" storyd >/dev/null
"$root/deploy/setup.sh" gnuplot-nox bc
brokers=$(bench_broker_start "$broker_dir")
for topic in mem-in mem-out mem-dlq; do
  "$root/tests/kafka/broker.sh" create-topic "$broker_dir" "$topic" 4 >/dev/null
done

python3 "$root/bench/synthetic_stream.py" "$articles" "$root/tests/data" \
  > "$work/stream.jsonl"
"$storyd" produce --brokers "$brokers" --topic mem-in --input "$work/stream.jsonl" \
  2>/dev/null

{ small_capacities_toml; cat <<TOML
[pipeline]
threads = 0
[kafka]
input_topic = "mem-in"
output_topic = "mem-out"
dead_letter_topic = "mem-dlq"
group_id = "mem"
changelog_topic = "mem-changelog"
instance_id = "bench"
"bootstrap.servers" = "$brokers"
[metrics]
port = 0
TOML
} > "$work/storyd.toml"
"$storyd" run --config "$work/storyd.toml" 2> "$work/log" &
pid=$!
"$storyd" consume --brokers "$brokers" --topic mem-out --count "$articles" \
  --idle-timeout-ms 600000 > /dev/null 2>&1 &
consumer=$!
start=$(date +%s.%N)
sample_rss "$pid" "$consumer" "$out_dir/daemon_rss.tsv"
wait "$consumer"
seconds=$(echo "$(date +%s.%N) - $start" | bc)
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
kill -TERM "$pid"
wait "$pid"
echo "storyd run: $articles articles in ${seconds%.*} s, $(echo "$articles / $seconds" | bc) articles/s; VmHWM $((hwm / 1024)) MB"
plot_rss "$out_dir/daemon_rss.tsv" "$out_dir/daemon_rss.png" \
  "storyd run (exactly once): resident memory over a $articles-article run with expiry"
