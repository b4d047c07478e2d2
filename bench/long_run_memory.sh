#!/usr/bin/env bash
# Peak RSS over a long offline run with expiry on: does memory level off?
# Generates a synthetic stream (bench/synthetic_stream.py: 15 random
# dev-corpus sentences an article, 30 % copies of recent ones with edits),
# runs `storyd dedup` with small index capacities so that expiry starts
# early, samples the RSS twice a second and plots it to build/bench/rss.png
# (gnuplot, installed from Debian if missing). The Kafka
# daemon's counterpart is bench/daemon_memory.sh.
# Usage: bench/long_run_memory.sh [articles=300000]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/bench/bench_lib.sh"
articles=${1:-300000}
out_dir="$root/build/bench"
mkdir -p "$out_dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$root/deploy/build.sh" storyd >/dev/null
"$root/deploy/setup.sh" gnuplot-nox bc
python3 "$root/bench/synthetic_stream.py" "$articles" "$root/tests/data" > "$work/stream.jsonl"
small_capacities_toml > "$work/storyd.toml"
"$root/build/bin/storyd" dedup --config "$work/storyd.toml" --input "$work/stream.jsonl" \
  --output /dev/null 2> "$work/log" &
pid=$!
sample_rss "$pid" "$pid" "$out_dir/rss.tsv"
wait "$pid" || true
tail -1 "$work/log"
plot_rss "$out_dir/rss.tsv" "$out_dir/rss.png" \
  "storyd dedup: resident memory over a $articles-article run with expiry"
