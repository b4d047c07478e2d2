#!/usr/bin/env bash
# End to end through a real Apache Kafka broker (the test harness's,
# tests/kafka/broker.sh), storyd side by side with a relay that forwards
# records unchanged (bench/kafka_relay.cc), on the same broker and data,
# after a short run of each has warmed the broker:
#   1. saturation: all articles are in the input topic before the consumer
#      starts; throughput = records / (last - first output timestamp);
#   2. latency at a steady offered load of half storyd's saturation rate
#      (storyd, then the relay, each alone on the machine): input record
#      timestamp to output record timestamp, p50 / p99.
# Prints a Markdown table; writes the latency distribution to
# build/bench/latency.png with gnuplot (installed from Debian if missing).
# Usage: bench/kafka_e2e.sh [copies_of_dev_data=100] [threads=0] [latency_seconds=10]
# (100 copies: 198,800 records. On a few thousand records the relay's rate
# is one fetch burst, tens of ms between its first and last output, and
# says little of what it sustains: 326-473 k/s on 20-60 k records against
# 89-138 k/s on 198,800 in the same hour.)
# STORYD_BIN=path runs another storyd binary (an older build, to compare;
# the produce and consume tools stay this tree's);
# ORDER=shuffled or ORDER=files feeds the articles in another order (below);
# KAFKA_TOML="key = value" adds lines to storyd's [kafka] section;
# WARM_RECORDS=n warms the broker on n records instead of 20,000;
# LATENCY_EXACTLY_ONCE=false runs the latency part at least once (no
# transactions, so no commit holds the output back; see BENCHMARKS.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/bench/bench_lib.sh"
copies=${1:-100}
threads=${2:-0}
latency_seconds=${3:-10}
latency_exactly_once=${LATENCY_EXACTLY_ONCE:-true}
storyd="${STORYD_BIN:-$root/build/bin/storyd}"
# The load generator and reader are this tree's build whichever storyd is
# measured, so that two builds are compared under the same load.
tools="$root/build/bin/storyd"
relay="$root/build/bin/kafka_relay"
broker_dir="$root/build/kafka-bench-broker"
out_dir="$root/build/bench"
work=$(mktemp -d)
mkdir -p "$out_dir"
trap 'bench_cleanup "$broker_dir" "$work"' EXIT
"$root/deploy/build.sh" storyd kafka_relay >/dev/null
"$root/deploy/setup.sh" gnuplot-nox
# A fresh log directory every run: the topics of earlier runs (a thousand
# partitions after a few dozen runs, compacted changelogs among them) kept
# the broker busy and made the figures drift from run to run.
brokers=$(bench_broker_start "$broker_dir")
run="b$RANDOM$RANDOM"
topic() { "$root/tests/kafka/broker.sh" create-topic "$broker_dir" "$run-$1" "$2" >/dev/null; }

# The dev corpora, each article repeated once per copy with its id suffixed.
# ORDER=steady (the default) keeps the cost per record the same all through
# the run: the articles' copy groups (the gold files' dup_group: an article
# and its re-published versions) appear one at a time at evenly spaced
# records, and every other record repeats a member of a group already out
# whose records are not used up, picked at random. So the records that are
# no copy of an earlier one, which cost several times a copy, come at a
# steady rate: that is the load the latency target means. A plain shuffle
# puts most of them in the first seconds (ORDER=shuffled), the files' order
# all of them first (ORDER=files). Fixed seeds either way.
python3 - "$root/tests/data" "$copies" "${ORDER:-steady}" > "$work/input.jsonl" <<'PY'
import json, random, sys
data, copies, order = sys.argv[1], int(sys.argv[2]), sys.argv[3]
# Copy groups: the gold dup_group within a file, joined across the files
# where an article is in both (neardup's originals are ECB+ articles).
articles, group_keys, parent, group_of_text = [], [], {}, {}
def root(key):
    while parent.setdefault(key, key) != key:
        key = parent[key]
    return key
for name in ("ecbplus", "neardup"):
    dup_group = {}
    for line in open(f"{data}/{name}.gold.tsv"):
        article_id, _, group = line.rstrip("\n").split("\t")
        dup_group[article_id] = group
    for line in open(f"{data}/{name}.jsonl"):
        o = json.loads(line)
        group_key = (name, dup_group[str(o["id"])])
        key = root(group_key)
        text = " ".join(o["body"].split())
        other = root(group_of_text.setdefault(text, key))
        if other != key:
            parent[key] = other
        articles.append((name, o))
        group_keys.append(group_key)
groups = {}
for article, key in zip(articles, group_keys):
    groups.setdefault(root(key), []).append(article)
def record(article, c):
    name, o = article
    return json.dumps(dict(o, id=f"{name}-{o['id']}-{c}"))
if order == "steady":
    rng = random.Random(1)
    units = list(groups.values())
    rng.shuffle(units)
    total = len(articles) * copies
    spacing = total / len(units)
    records, out = [], []  # out: records of the groups out, not yet used
    while len(records) < total:
        due = len(records) >= (len(groups) - len(units)) * spacing
        if units and (due or not out):
            unit = units.pop()
            pending = [record(a, c) for a in unit for c in range(copies)]
            rng.shuffle(pending)
            records.append(pending.pop())
            out.extend(pending)
            continue
        i = rng.randrange(len(out))
        records.append(out[i])
        out[i] = out[-1]
        out.pop()
else:
    records = [record(a, c) for c in range(copies) for a in articles]
    if order == "shuffled":
        random.Random(1).shuffle(records)
print("\n".join(records))
PY
records=$(grep -c . "$work/input.jsonl")

# The latency runs wait for /readyz (state restored, partitions assigned)
# before the load starts: a fixed sleep let a slow group join put its
# backlog into the measured latency.
metrics_port=$(bench_free_port)
storyd_config() {  # name [exactly_once=true] -> config for topics $run-$name-*
  cat > "$work/$1.toml" <<TOML
[pipeline]
threads = $threads
[kafka]
input_topic = "$run-$1-in"
output_topic = "$run-$1-out"
dead_letter_topic = "$run-$1-dlq"
group_id = "$run-$1"
changelog_topic = "$run-$1-changelog"
exactly_once = ${2:-true}
instance_id = "bench"
"bootstrap.servers" = "$brokers"
${KAFKA_TOML:-}
[metrics]
address = "127.0.0.1"
port = $metrics_port
TOML
  echo "$work/$1.toml"
}
consume_ts() {  # topic count -> file of {"timestamp","key","value"}
  "$tools" consume --brokers "$brokers" --topic "$1" --count "$2" --timestamps \
    --idle-timeout-ms 60000 2>/dev/null
}
# storyd runs alone, as the relay does: its outputs are read once it has
# delivered them all (its metrics say when), not while it runs. A reader
# beside it took CPU and broker time from storyd that the relay never
# had to share.
storyd_through() {  # name count [exactly_once] -> its outputs
  local storyd_pid
  "$storyd" run --config "$(storyd_config "$1" "${3:-true}")" 2>"$work/$1.log" &
  storyd_pid=$!
  bench_wait_counter "$metrics_port" "$storyd_pid" storyd_articles_emitted_total \
    "$2" 600 || { cat "$work/$1.log" >&2; return 1; }
  # Its stage times, for where the run's time went (the report's last rows).
  curl -sf --max-time 2 "http://127.0.0.1:$metrics_port/metrics" > "$work/$1.metrics" || true
  bench_cpu_us "$storyd_pid" > "$work/$1.cpu_us"
  kill -TERM "$storyd_pid"
  wait "$storyd_pid"
  consume_ts "$run-$1-out" "$2"
}
for name in sat alo relay wsat wrelay; do
  topic "$name-in" 4
  topic "$name-out" 4
  topic "$name-dlq" 1
done

# 0. The broker warms up first. A fresh broker's JVM compiles its fetch,
# produce and transaction code during the first run it serves (2-3 s of
# its CPU in a 5 s run, by its threads' CPU times), and that was storyd's
# run, with the relay measured after it on a warm broker. A short run of
# each, on the first 20,000 records (WARM_RECORDS), warms it for both.
# (A warm-up on all 198,800 records left storyd's rate where it was.)
head -n "${WARM_RECORDS:-20000}" "$work/input.jsonl" > "$work/warm-broker.jsonl"
warm_records=$(grep -c . "$work/warm-broker.jsonl")
"$tools" produce --brokers "$brokers" --topic "$run-wsat-in" --input "$work/warm-broker.jsonl" 2>/dev/null
"$tools" produce --brokers "$brokers" --topic "$run-wrelay-in" --input "$work/warm-broker.jsonl" 2>/dev/null
storyd_through wsat "$warm_records" >/dev/null
"$relay" "$brokers" "$run-wrelay-in" "$run-wrelay-out" "$run-wrelay" "$warm_records" >/dev/null

# 1. Saturation. All three inputs are written first, and the kernel flushes
# the broker's dirty pages (sync) before each run: a run that starts while
# the previous step's gigabyte of log writes is still being flushed shares
# the disk and a core with that flush, and the first run after the inputs
# were written paid most.
for name in sat alo relay; do
  "$tools" produce --brokers "$brokers" --topic "$run-$name-in" --input "$work/input.jsonl" 2>/dev/null
done
sync
storyd_through sat "$records" > "$work/sat-out.jsonl"
sync
# The same at least once: no transactions.
storyd_through alo "$records" false > "$work/alo-out.jsonl"
sync
"$relay" "$brokers" "$run-relay-in" "$run-relay-out" "$run-relay" "$records" >/dev/null
consume_ts "$run-relay-out" "$records" > "$work/relay-out.jsonl"

rate() {  # output file -> records/s between first and last output timestamp
  python3 - "$1" <<'PY'
import json, sys
ts = [json.loads(line)["timestamp"] for line in open(sys.argv[1]) if line.strip()]
span = (max(ts) - min(ts)) / 1000.0
print(f"{len(ts) / span:.0f}" if span > 0 else "0")
PY
}
storyd_rate=$(rate "$work/sat-out.jsonl")
alo_rate=$(rate "$work/alo-out.jsonl")
relay_rate=$(rate "$work/relay-out.jsonl")

# 2. Latency at half of storyd's saturation rate, storyd and then the relay
# (one at a time, so that neither competes with the other for the CPU).
offered=${OFFERED:-$(( storyd_rate / 2 ))}
[ "$offered" -lt 1 ] && offered=1
latency_records=$(( offered * latency_seconds ))
# The saturation input at most: more repeats of the dev data would make
# every article a copy of dozens of others, a different workload.
[ "$latency_records" -gt "$records" ] && latency_records=$records
head -n "$latency_records" "$work/input.jsonl" > "$work/latency-input.jsonl"
# The latency runs start on a settled, warm broker. The saturation runs
# leave gigabytes of log writes for the kernel to flush, and the broker's
# code for a paced transactional load is compiled by its JIT in the first
# seconds of one. storyd's run, the first after the saturation runs, paid
# for both: a backlog of up to half a second in its first two seconds
# that a second run on the same broker did not show. So the dirty pages
# are flushed, and a storyd carries three seconds of the load through the
# broker first. (A broker restarted on a fresh log directory instead was
# slower still for its first tens of seconds.)
sync
for name in lat lrelay warm1; do
  topic "$name-in" 4
  topic "$name-out" 4
  topic "$name-dlq" 1
done
warm_up() {  # name: storyd carries three seconds of the load, then stops
  head -n "$(( offered * 3 ))" "$work/input.jsonl" > "$work/warm-input.jsonl"
  local count warm_pid
  count=$(grep -c . "$work/warm-input.jsonl")
  "$storyd" run --config "$(storyd_config "$1" "$latency_exactly_once")" 2>"$work/$1.log" &
  warm_pid=$!
  bench_wait_ready "$metrics_port" "$warm_pid" 60 || { cat "$work/$1.log" >&2; return 1; }
  "$tools" produce --brokers "$brokers" --topic "$run-$1-in" \
    --input "$work/warm-input.jsonl" --rate "$offered" 2>/dev/null
  consume_ts "$run-$1-out" "$count" >/dev/null
  kill -TERM "$warm_pid"
  wait "$warm_pid"
  sync
}
warm_up warm1
"$storyd" run --config "$(storyd_config lat "$latency_exactly_once")" 2>"$work/lat.log" &
pid=$!
bench_wait_ready "$metrics_port" "$pid" 60
cpu_before=$(bench_cpu_us "$pid")
"$tools" produce --brokers "$brokers" --topic "$run-lat-in" --input "$work/latency-input.jsonl" \
  --rate "$offered" 2>/dev/null
consume_ts "$run-lat-out" "$latency_records" > "$work/lat-out.jsonl"
storyd_cpu_us=$(( $(bench_cpu_us "$pid") - cpu_before ))
curl -sf --max-time 2 "http://127.0.0.1:$metrics_port/metrics" > "$work/lat.metrics" || true
consume_ts "$run-lat-in" "$latency_records" > "$work/lat-in.jsonl"
kill -TERM "$pid"; wait "$pid"
cp "$work/lat.log" "$out_dir/storyd_latency_run.log"
"$relay" "$brokers" "$run-lrelay-in" "$run-lrelay-out" "$run-lrelay" "$latency_records" \
  > "$work/lrelay.txt" &
relay_pid=$!
sleep 6
"$tools" produce --brokers "$brokers" --topic "$run-lrelay-in" \
  --input "$work/latency-input.jsonl" --rate "$offered" 2>/dev/null
wait "$relay_pid"
# Its whole run's CPU time (it idles before the load).
relay_cpu_us=$(sed -n 's/.*cpu_us \([0-9]*\).*/\1/p' "$work/lrelay.txt")
consume_ts "$run-lrelay-out" "$latency_records" > "$work/lrelay-out.jsonl"
consume_ts "$run-lrelay-in" "$latency_records" > "$work/lrelay-in.jsonl"

python3 - "$work" "$out_dir" "$records" "$storyd_rate" "$relay_rate" "$offered" "$threads" "$alo_rate" \
  "$storyd_cpu_us" "$relay_cpu_us" "$latency_records" "$latency_exactly_once" <<'PY'
import json, sys
work, out_dir, records = sys.argv[1], sys.argv[2], int(sys.argv[3])
storyd_rate, relay_rate, offered, threads, alo_rate = map(float, sys.argv[4:9])
storyd_cpu_us, relay_cpu_us, latency_records = map(float, sys.argv[9:12])
mode = "exactly once" if sys.argv[12] == "true" else "at least once"
def delays(inp, out):
    """(ms since the load's first record was sent, latency ms) per record."""
    sent = {}
    for line in open(f"{work}/{inp}"):
        o = json.loads(line)
        sent[o["key"]] = o["timestamp"]
    start = min(sent.values()) if sent else 0
    pairs = []
    for line in open(f"{work}/{out}"):
        o = json.loads(line)
        if o["key"] in sent:
            pairs.append((sent[o["key"]] - start, o["timestamp"] - sent[o["key"]]))
    return pairs
def latencies(pairs, skip_ms=0):
    """Sorted latencies; skip_ms leaves out records sent in the load's first
    skip_ms (the warm-up: fresh index pages, the first transactions)."""
    return sorted(latency for offset, latency in pairs if offset >= skip_ms)
def pct(values, p):
    return values[min(len(values) - 1, int(p / 100 * len(values)))] if values else float("nan")
s_pairs = delays("lat-in.jsonl", "lat-out.jsonl")
r_pairs = delays("lrelay-in.jsonl", "lrelay-out.jsonl")
s_lat = latencies(s_pairs)
r_lat = latencies(r_pairs)
def timeline(pairs, step_ms=250):
    """(start of step in s, records, p50, p99, max) by send time."""
    steps = {}
    for offset, latency in pairs:
        steps.setdefault(offset // step_ms, []).append(latency)
    rows = []
    for k, v in sorted(steps.items()):
        v.sort()
        rows.append((k * step_ms / 1000, len(v), pct(v, 50), pct(v, 99), v[-1]))
    return rows
with open(f"{out_dir}/latency_timeline.tsv", "w") as f:
    f.write("# send time (s)\trecords\tp50 ms\tp99 ms\tmax ms (storyd)\n")
    for row in timeline(s_pairs):
        f.write("\t".join(str(v) for v in row) + "\n")
with open(f"{out_dir}/latency.tsv", "w") as f:
    for i, (a, b) in enumerate(zip(s_lat, r_lat)):
        f.write(f"{100.0 * i / len(s_lat):.3f}\t{a}\t{b}\n")
print(f"| | storyd | relay | storyd / relay |")
print(f"|---|---|---|---|")
print(f"| saturation throughput, exactly once ({records} articles, 4 partitions) | "
      f"{storyd_rate:.0f} /s | {relay_rate:.0f} /s | {storyd_rate / relay_rate:.2f} |")
print(f"| saturation throughput, at least once | {alo_rate:.0f} /s | | "
      f"{alo_rate / relay_rate:.2f} |")
print(f"| latency p50 at {offered:.0f} /s offered, {mode} | {pct(s_lat, 50)} ms | {pct(r_lat, 50)} ms | |")
print(f"| latency p99 at {offered:.0f} /s offered, {mode} | {pct(s_lat, 99)} ms | {pct(r_lat, 99)} ms | |")
s_steady = latencies(s_pairs, 1000)
r_steady = latencies(r_pairs, 1000)
print(f"| latency p50 / p99 after the first second of load | {pct(s_steady, 50)} / "
      f"{pct(s_steady, 99)} ms | {pct(r_steady, 50)} / {pct(r_steady, 99)} ms | |")
print(f"| records measured for latency | {len(s_lat)} | {len(r_lat)} | |")
def metrics(name):
    """{series with its labels: value} from a run's /metrics snapshot."""
    try:
        lines = open(f"{work}/{name}.metrics").read().splitlines()
    except OSError:
        return {}
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in lines if line and not line.startswith("#")}
def stage(snapshot, kind, name):
    return snapshot.get(f'storyd_stage_seconds_{kind}{{stage="{name}"}}', 0.0)
# Each saturation run's span is its records over its rate (both from its
# output timestamps).
for run, rate, label in (("sat", storyd_rate, "exactly once"),
                         ("alo", alo_rate, "at least once")):
    snapshot = metrics(run)
    if not snapshot or rate <= 0:
        continue
    span = records / rate
    # The main thread's own stages: assigning in order, and the commits,
    # which stall it (transactions) or are handed to librdkafka (at least
    # once); the workers' processing is spread over their threads.
    assign_s, commit_s = stage(snapshot, "sum", "assign"), stage(snapshot, "sum", "commit")
    print(f"| saturation, {label}: the main thread's assign / commit time, "
          f"share of the {span:.1f} s run | {assign_s:.2f} s / {commit_s:.2f} s in "
          f"{stage(snapshot, 'count', 'commit'):.0f} commits | | "
          f"{assign_s / span:.0%} / {commit_s / span:.0%} |")
snapshot = metrics("lat")
if snapshot:
    def commits_within(bound):
        return snapshot.get(f'storyd_stage_seconds_bucket{{stage="commit",le="{bound}"}}', 0.0)
    total = commits_within("+Inf")
    # A transaction's commit stops the ordered stage: every record behind it
    # waits as long as the commit takes.
    print(f"| latency run's commits: all / over 25 ms / over 100 ms | {total:.0f} / "
          f"{total - commits_within('0.025'):.0f} / {total - commits_within('0.1'):.0f} | | |")
# The same for the saturation run (its start-up included, a few ms): records
# come in full fetches there, so this is storyd's cost per record batched.
try:
    sat_cpu_us = float(open(f"{work}/sat.cpu_us").read())
    print(f"| CPU time per record at saturation, exactly once | {sat_cpu_us / records:.0f} µs | | |")
except (OSError, ValueError):
    pass
print(f"| CPU time per record in the latency run (all threads) | "
      f"{storyd_cpu_us / latency_records:.0f} µs | {relay_cpu_us / latency_records:.0f} µs | "
      f"{storyd_cpu_us / max(relay_cpu_us, 1):.0f}x |")
print(f"(storyd worker threads: {int(threads) or 'one per core'})")
PY
gnuplot <<GP
set terminal pngcairo size 900,500
set output "$out_dir/latency.png"
set title "End-to-end latency at $offered articles/s offered (input to output record timestamp)"
set xlabel "percentile"
set ylabel "latency (ms)"
set logscale y
set grid
set key top left
plot "$out_dir/latency.tsv" using 1:2 with lines lw 2 title "storyd", \
     "$out_dir/latency.tsv" using 1:3 with lines lw 2 title "relay (no processing)"
GP
echo "latency plot: $out_dir/latency.png" >&2
