#!/usr/bin/env bash
# The main job on its embedded default: installs what is missing, builds,
# starts `storyd run` on librdkafka's in-process mock broker, feeds it the
# seed articles and the ECB+ dev file (tests/data/), prints every record of
# the output topic as JSON Lines, and ends with a summary. Needs no broker.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/deploy/build.sh" storyd >&2
storyd="$root/build/bin/storyd"
work=$(mktemp -d)
daemon_pid=""
cleanup() {
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# No metrics endpoint for the demo, so that it never collides with a port.
printf '[metrics]\nport = 0\n' > "$work/demo.toml"
"$storyd" run --embedded-broker --config "$work/demo.toml" > "$work/daemon.out" 2> "$work/daemon.log" &
daemon_pid=$!
for _ in $(seq 1 100); do
  grep -q "embedded broker at" "$work/daemon.out" 2>/dev/null && break
  sleep 0.1
done
brokers=$(sed -n 's/^storyd: embedded broker at //p' "$work/daemon.out")
if [ -z "$brokers" ]; then
  cat "$work/daemon.log" >&2
  exit 1
fi
echo "demo: storyd is running on the embedded broker $brokers" >&2

cat "$root/tests/data/seeds.jsonl" "$root/tests/data/ecbplus.jsonl" > "$work/input.jsonl"
records=$(grep -c . "$work/input.jsonl")
start=$(date +%s.%N)
"$storyd" produce --brokers "$brokers" --topic articles --input "$work/input.jsonl"
"$storyd" consume --brokers "$brokers" --topic article-stories --count "$records" \
  --idle-timeout-ms 60000 > "$work/output.jsonl"
end=$(date +%s.%N)
cat "$work/output.jsonl"

kill -TERM "$daemon_pid"
wait "$daemon_pid"
daemon_pid=""
grep -E "^storyd: (stopped|assigned)" "$work/daemon.log" >&2 || true

python3 - "$work/output.jsonl" "$records" "$start" "$end" "$work/daemon.log" <<'PY' >&2
import json, re, sys
path, records, start, end = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
stopped = re.search(r"(\d+) dead letters", open(sys.argv[5]).read())
dead_letters = int(stopped.group(1)) if stopped else -1
out = [json.loads(line) for line in open(path) if line.strip()]
seeds = {o["story_id"] for o in out if o["id"].startswith("seed-")}
copies = sum(1 for o in out if o["dup_of"])
print(f"demo summary: {records} articles in, {len(out)} assignments out, "
      f"{len({o['story_id'] for o in out})} stories, {copies} copies, "
      f"{dead_letters} dead letters, "
      f"{len(out) / (end - start):.0f} articles/s end to end (produce to consume)")
print(f"demo summary: the five seed articles got {len(seeds)} story id(s): {', '.join(sorted(seeds))}")
PY
