#!/usr/bin/env bash
# Summarizes and plots an RSS trace of "seconds<TAB>VmRSS kB" lines (the
# long-run memory benchmarks): prints RSS at half time, at the end and at its
# peak, and the change over the second half; renders PNG with gnuplot.
# Usage: bench/rss_plot.sh TRACE.tsv OUT.png TITLE
set -euo pipefail
trace=$1 png=$2 title=$3
python3 - "$trace" <<'PY'
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
set output "$png"
set title "$title"
set xlabel "seconds"
set ylabel "RSS (MB)"
set grid
plot "$trace" using 1:(\$2/1024) with lines lw 2 title "RSS"
GP
echo "plot: $png" >&2
