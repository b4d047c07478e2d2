#!/usr/bin/env bash
# The story tier's ceiling with hindsight (bench/story_ceiling.py), on the
# ECB+ and near-duplicate dev files; numpy and scipy from the peers' venv.
# Usage: bench/story_ceiling.sh [--online]   (--online adds ~2 minutes)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/bench/peers/setup.sh"
"$root/build/peers-venv/bin/python" "$root/bench/story_ceiling.py" "$@" ecbplus neardup
