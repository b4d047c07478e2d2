#!/usr/bin/env bash
# Offline throughput against worker threads (storyd dedup on 10 copies of the
# dev articles with distinct ids), plotted to build/bench/threads.png.
# Usage: bench/threads.sh [max_threads=$(nproc)]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
max=${1:-$(nproc)}
out_dir="$root/build/bench"
mkdir -p "$out_dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$root/deploy/build.sh" storyd >/dev/null
"$root/deploy/setup.sh" gnuplot-nox
python3 - "$root/tests/data" > "$work/input.jsonl" <<'PY'
import json, sys
for c in range(10):
    for name in ("ecbplus", "neardup"):
        for line in open(f"{sys.argv[1]}/{name}.jsonl"):
            o = json.loads(line)
            o["id"] = f"{name}-{o['id']}-{c}"
            print(json.dumps(o))
PY
: > "$out_dir/threads.tsv"
for t in $(seq 1 "$max"); do
  best=0
  for run in 1 2; do
    rate=$("$root/build/bin/storyd" dedup --threads "$t" --input "$work/input.jsonl" \
             --output /dev/null 2>&1 | sed -n 's/.* \([0-9]*\) articles\/s$/\1/p')
    [ "$rate" -gt "$best" ] && best=$rate
  done
  echo "$t	$best" | tee -a "$out_dir/threads.tsv"
done
gnuplot <<GP
set terminal pngcairo size 700,450
set output "$out_dir/threads.png"
set title "storyd dedup throughput against worker threads ($(nproc) cores)"
set xlabel "worker threads"
set ylabel "articles/s"
set xtics 1
set grid
set yrange [0:*]
plot "$out_dir/threads.tsv" using 1:2 with linespoints lw 2 pt 7 title "storyd dedup"
GP
echo "plot: $out_dir/threads.png" >&2
