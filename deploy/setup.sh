#!/usr/bin/env bash
# Installs every Debian package storyd needs to build, test and benchmark,
# plus any packages named as arguments (the bench scripts add their tools).
# Safe to run any number of times: it installs only what is missing.
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config clang libclang-rt-14-dev clang-format
  libsimdjson-dev libutf8proc-dev libtomlplusplus-dev libcli11-dev libre2-dev
  libxxhash-dev libabsl-dev librdkafka-dev libsystemd-dev libjemalloc-dev
  libgtest-dev libgmock-dev libbenchmark-dev python3 systemd maven openjdk-17-jre-headless curl
  "$@"
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "setup: installing ${missing[*]}" >&2
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
