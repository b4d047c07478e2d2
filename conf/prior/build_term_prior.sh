#!/usr/bin/env bash
# Rebuilds conf/prior/term_prior.tsv reproducibly from the PyPI wordfreq
# package (pinned), in a throw-away virtual environment.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install -q "wordfreq==3.1.1"
"$venv/bin/python" "$here/build_term_prior.py" "$here/term_prior.tsv"
