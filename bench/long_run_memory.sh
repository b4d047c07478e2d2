#!/usr/bin/env bash
# Peak RSS over a long offline run with expiry on: does memory level off?
# Generates a synthetic stream (15 random dev-corpus sentences an article,
# 30 % copies of recent ones with edits), runs `storyd dedup` with small index
# capacities so that expiry starts early, samples the RSS twice a second and
# plots it to build/bench/rss.png (gnuplot, installed from Debian if missing).
# Usage: bench/long_run_memory.sh [articles=300000]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
articles=${1:-300000}
out_dir="$root/build/bench"
mkdir -p "$out_dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$root/deploy/build.sh" storyd >/dev/null
"$root/deploy/setup.sh" gnuplot-nox bc
python3 - "$articles" "$root/tests/data" > "$work/stream.jsonl" <<'PY'
import json, random, re, sys
n, data = int(sys.argv[1]), sys.argv[2]
rng = random.Random(7)
# Real sentences from the dev corpora, recombined: realistic vocabulary,
# new texts all the time.
sentences = []
for name in ("ecbplus", "neardup"):
    for line in open(f"{data}/{name}.jsonl"):
        body = json.loads(line)["body"]
        sentences += [s for s in re.split(r"(?<=[.!?])\s+", body) if len(s.split()) > 5]
recent = []
for i in range(n):
    if recent and rng.random() < 0.3:
        words = rng.choice(recent).split()
        for _ in range(3):
            words[rng.randrange(len(words))] = rng.choice(words)
        body = " ".join(words)
    else:
        body = "\n".join(rng.sample(sentences, 15))
        recent.append(body)
        recent = recent[-200:]
    print(json.dumps({"id": f"a{i}", "body": body}))
PY
cat > "$work/storyd.toml" <<TOML
[copy]
fingerprint_capacity = 65536
window_articles = 16384
window_arena_words = 4194304
[story]
window_articles = 20000
max_df_terms = 262144
TOML
"$root/build/bin/storyd" dedup --config "$work/storyd.toml" --input "$work/stream.jsonl" \
  --output /dev/null 2> "$work/log" &
pid=$!
start=$(date +%s.%N)
: > "$out_dir/rss.tsv"
while kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  [ -n "$rss" ] && echo "$(echo "$(date +%s.%N) - $start" | bc)	$rss" >> "$out_dir/rss.tsv"
  sleep 0.5
done
wait "$pid" || true
tail -1 "$work/log"
python3 - "$out_dir/rss.tsv" <<'PY'
import sys
rows = [tuple(map(float, line.split())) for line in open(sys.argv[1]) if line.strip()]
if len(rows) < 4:
    sys.exit("too few samples")
half = rows[len(rows) // 2][1] / 1024
end = rows[-1][1] / 1024
peak = max(r[1] for r in rows) / 1024
print(f"RSS: {half:.0f} MB at half time, {end:.0f} MB at the end, peak {peak:.0f} MB "
      f"({(end - half) / half * 100:+.1f} % over the second half)")
PY
gnuplot <<GP
set terminal pngcairo size 900,450
set output "$out_dir/rss.png"
set title "storyd dedup: resident memory over a $articles-article run with expiry"
set xlabel "seconds"
set ylabel "RSS (MB)"
set grid
plot "$out_dir/rss.tsv" using 1:(\$2/1024) with lines lw 2 title "RSS"
GP
echo "plot: $out_dir/rss.png" >&2
