#!/usr/bin/env bash
# Creates the Python venv for the peer benchmarks (datasketch, simhash) at build/peers-venv.
# Idempotent: does nothing when the venv already has the pinned versions.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${PEERS_VENV:-$ROOT/build/peers-venv}"
PY="${PYTHON:-python3}"

# Pinned peer versions (PyPI).
PINS=(
  "datasketch==2.0.0"
  "simhash==2.1.2"
  "numpy==2.4.6"
  "scipy==1.17.1"
)

have_pins() {
  [ -x "$VENV/bin/python" ] || return 1
  "$VENV/bin/python" - "${PINS[@]}" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version, PackageNotFoundError
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    try:
        if version(name) != want:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PYEOF
}

if have_pins; then
  echo "setup.sh: $VENV already has ${PINS[*]}" >&2
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}"
have_pins || { echo "setup.sh: pinned packages not importable in $VENV" >&2; exit 1; }
"$VENV/bin/python" -c 'import datasketch, simhash, numpy, scipy; print("setup.sh: datasketch", datasketch.__version__ if hasattr(datasketch, "__version__") else "?", "numpy", numpy.__version__, "scipy", scipy.__version__)' >&2
