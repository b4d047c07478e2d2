#!/usr/bin/env bash
# Configures (once) and builds storyd into build/ (binary: build/bin/storyd).
# Usage: deploy/build.sh [target...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/deploy/setup.sh"
if [ ! -f "$root/build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$root/build" ${1:+--target "$@"}
