#!/usr/bin/env bash
# The systemd unit's checks: `systemd-analyze verify` is clean and
# `systemd-analyze security --offline=true` scores it 2.5 or lower.
# Usage: systemd_unit_test.sh <unit file> <storyd binary>
set -euo pipefail
unit=$1
binary=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# verify checks that ExecStart exists: point it at the binary just built.
sed "s|^ExecStart=/usr/local/bin/storyd|ExecStart=$binary|" "$unit" > "$work/storyd.service"
if ! output=$(systemd-analyze verify "$work/storyd.service" 2>&1) || [ -n "$output" ]; then
  echo "FAIL: systemd-analyze verify:"
  echo "$output"
  exit 1
fi
echo "ok: systemd-analyze verify is clean"

# systemctl reload reaches the daemon as SIGHUP (it reloads the rules).
if ! grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$unit"; then
  echo "FAIL: no ExecReload sending SIGHUP"
  exit 1
fi
echo "ok: ExecReload sends SIGHUP"

security=$(systemd-analyze security --offline=true "$unit" 2>&1)
score=$(echo "$security" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
if [ -z "$score" ]; then
  echo "FAIL: no exposure level in:"
  echo "$security"
  exit 1
fi
if ! awk -v s="$score" 'BEGIN { exit !(s <= 2.5) }'; then
  echo "FAIL: exposure level $score is above 2.5"
  echo "$security" | grep -v "✓"
  exit 1
fi
echo "ok: exposure level $score (at most 2.5)"
