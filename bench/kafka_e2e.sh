#!/usr/bin/env bash
# End-to-end throughput of `storyd run` through a real Apache Kafka broker
# (the test harness's, tests/kafka/broker.sh): produces N articles into a
# 4-partition input topic first, then starts storyd and times until the
# last output record can be read back.
# Usage: bench/kafka_e2e.sh [copies_of_dev_data=5] [threads=0]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
copies=${1:-5}
threads=${2:-0}
storyd="$root/build/bin/storyd"
broker_dir="$root/build/kafka-bench-broker"
work=$(mktemp -d)
trap '"$root/tests/kafka/broker.sh" stop "$broker_dir" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
"$root/deploy/build.sh" storyd >/dev/null
brokers=$("$root/tests/kafka/broker.sh" start "$broker_dir")
run="bench$RANDOM$RANDOM"
"$root/tests/kafka/broker.sh" create-topic "$broker_dir" "$run-in" 4 >/dev/null
"$root/tests/kafka/broker.sh" create-topic "$broker_dir" "$run-out" 4 >/dev/null
"$root/tests/kafka/broker.sh" create-topic "$broker_dir" "$run-dlq" 1 >/dev/null

# Distinct articles: the dev corpora, ids suffixed per copy.
python3 - "$root/tests/data" "$copies" > "$work/input.jsonl" <<'PY'
import json, sys
data, copies = sys.argv[1], int(sys.argv[2])
for c in range(copies):
    for name in ("ecbplus", "neardup"):
        for line in open(f"{data}/{name}.jsonl"):
            o = json.loads(line)
            o["id"] = f"{name}-{o['id']}-{c}"
            print(json.dumps(o))
PY
records=$(grep -c . "$work/input.jsonl")
"$storyd" produce --brokers "$brokers" --topic "$run-in" --input "$work/input.jsonl" 2>/dev/null
cat > "$work/storyd.toml" <<TOML
[pipeline]
threads = $threads
[kafka]
input_topic = "$run-in"
output_topic = "$run-out"
dead_letter_topic = "$run-dlq"
group_id = "$run"
"bootstrap.servers" = "$brokers"
[metrics]
port = 0
TOML
start=$(date +%s.%N)
"$storyd" run --config "$work/storyd.toml" 2> "$work/daemon.log" &
pid=$!
"$storyd" consume --brokers "$brokers" --topic "$run-out" --count "$records" \
  --idle-timeout-ms 60000 > "$work/out.jsonl" 2>/dev/null
end=$(date +%s.%N)
kill -TERM "$pid"
wait "$pid"
out=$(grep -c . "$work/out.jsonl")
python3 -c "
import sys
records, out, start, end = $records, $out, $start, $end
print(f'kafka e2e: {records} articles in, {out} out, {end - start:.2f} s from daemon start '
      f'to last output read, {out / (end - start):.0f} articles/s (threads=$threads)')
"
