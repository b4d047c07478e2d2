#!/usr/bin/env bash
# The main job on its embedded default: installs what is missing, builds, and
# runs `storyd dedup` over the shipped seed articles, printing one assignment
# per article (the summary goes to stderr).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/deploy/build.sh" storyd >&2
exec "$root/build/bin/storyd" dedup --input "$root/tests/data/seeds.jsonl"
