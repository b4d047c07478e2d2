# Shared by the bench scripts (source it after setting $root): a fresh test
# broker, clean-up, and RSS traces.

# Starts the test harness's broker in DIR on a fresh log directory (topics
# of earlier runs keep a broker busy) and prints its bootstrap servers.
bench_broker_start() {
  "$root/tests/kafka/broker.sh" stop "$1" >/dev/null 2>&1 || true
  rm -rf "$1/data"
  "$root/tests/kafka/broker.sh" start "$1"
}

# For an EXIT trap: stops the script's background jobs and the broker in
# DIR, and removes WORK. Usage: bench_cleanup DIR WORK
bench_cleanup() {
  jobs -p | xargs -r kill -TERM 2>/dev/null || true
  wait 2>/dev/null || true
  "$root/tests/kafka/broker.sh" stop "$1" >/dev/null 2>&1 || true
  rm -rf "$2"
}

# Prints a TCP port on 127.0.0.1 that is free now (for storyd's metrics).
bench_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until storyd (PID) answers 200 on /readyz at 127.0.0.1:PORT: state
# restored and partitions assigned. Fails if it exits or takes over SECONDS.
# Usage: bench_wait_ready PORT PID SECONDS
bench_wait_ready() {
  local deadline=$(( SECONDS + $3 ))
  until curl -sf --max-time 2 "http://127.0.0.1:$1/readyz" >/dev/null 2>&1; do
    kill -0 "$2" 2>/dev/null || { echo "bench: storyd exited before it was ready" >&2; return 1; }
    (( SECONDS < deadline )) || { echo "bench: storyd not ready within $3 s" >&2; return 1; }
    sleep 0.1
  done
}

# Waits until the counter NAME on storyd's /metrics at PORT reaches VALUE.
# Usage: bench_wait_counter PORT PID NAME VALUE SECONDS
bench_wait_counter() {
  local deadline=$(( SECONDS + $5 )) now
  while true; do
    now=$(curl -sf --max-time 2 "http://127.0.0.1:$1/metrics" 2>/dev/null |
      awk -v name="$3" '$1 == name {print $2}')
    [ -n "$now" ] && awk -v a="$now" -v b="$4" 'BEGIN {exit !(a >= b)}' && return 0
    kill -0 "$2" 2>/dev/null || { echo "bench: storyd exited before $3 reached $4" >&2; return 1; }
    (( SECONDS < deadline )) || { echo "bench: $3 did not reach $4 within $5 s" >&2; return 1; }
    sleep 0.1
  done
}

# Writes "seconds<TAB>VmRSS kB" of PID to OUT twice a second while
# WHILE_PID runs. Usage: sample_rss PID WHILE_PID OUT
sample_rss() {
  local start rss
  start=$(date +%s.%N)
  : > "$3"
  while kill -0 "$2" 2>/dev/null; do
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || true)
    [ -n "$rss" ] && echo "$(echo "$(date +%s.%N) - $start" | bc)	$rss" >> "$3"
    sleep 0.5
  done
}

# Prints RSS at half time, at the end and at its peak (and the change over
# the second half) of a sample_rss trace, and plots it to PNG with gnuplot.
# Usage: plot_rss TRACE PNG TITLE
plot_rss() {
  python3 - "$1" <<'PY'
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
set output "$2"
set title "$3"
set xlabel "seconds"
set ylabel "RSS (MB)"
set grid
plot "$1" using 1:(\$2/1024) with lines lw 2 title "RSS"
GP
  echo "plot: $2" >&2
}

# storyd.toml lines with index capacities small enough that expiry starts
# early (the long-run memory benchmarks).
small_capacities_toml() {
  cat <<'TOML'
[copy]
fingerprint_capacity = 65536
window_articles = 16384
window_arena_words = 4194304
[story]
window_articles = 20000
max_df_terms = 262144
TOML
}

# CPU time (user + system) a process has used so far, in microseconds.
bench_cpu_us() {  # pid
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.0f\n", ($14 + $15) * 1e6 / hz }' "/proc/$1/stat"
}
