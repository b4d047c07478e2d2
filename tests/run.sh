#!/usr/bin/env bash
# The whole test suite: installs what is missing, then builds and runs
#   1. every test in the release build (build/), the integration tests
#      against a real Apache Kafka broker that tests/kafka/broker.sh fetches
#      from Maven Central and starts on 127.0.0.1,
#   2. every test under AddressSanitizer + UBSan (build-asan/, clang), and the
#      libFuzzer targets for a bounded time,
#   3. the index and concurrency tests under ThreadSanitizer (build-tsan/).
# It starts with the style check: every C++ file as clang-format
# (.clang-format, Google style) would write it.
# Safe to run twice: build trees are reused.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/deploy/setup.sh"

echo "== clang-format check"
find core daemon bench tests \( -name '*.cc' -o -name '*.h' \) -print0 |
  xargs -0 clang-format --dry-run --Werror

configure() {  # dir, extra cmake args...
  local dir=$1
  shift
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$dir" -G Ninja "$@" >/dev/null
  fi
}

echo "== release build and tests"
configure build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build

# A real Apache Kafka broker (KRaft, single node, from Maven Central) on
# 127.0.0.1 for the integration tests; stopped whatever happens.
broker_dir="$root/build/kafka-broker"
trap '"$root/tests/kafka/broker.sh" stop "$broker_dir" >/dev/null 2>&1 || true' EXIT
"$root/tests/kafka/broker.sh" stop "$broker_dir" >/dev/null 2>&1 || true
STORYD_KAFKA_BOOTSTRAP=$("$root/tests/kafka/broker.sh" start "$broker_dir")
export STORYD_KAFKA_BOOTSTRAP
export STORYD_KAFKA_WORKDIR="$broker_dir"
echo "Kafka broker at $STORYD_KAFKA_BOOTSTRAP"
ctest --test-dir build --output-on-failure
"$root/tests/kafka/broker.sh" stop "$broker_dir" >/dev/null 2>&1 || true

echo "== AddressSanitizer + UBSan build and tests"
configure build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ \
  -DSTORYD_SANITIZE=address,undefined -DSTORYD_BUILD_FUZZ=ON
cmake --build build-asan
# The Kafka integration tests ran in the release tree; here they would only
# repeat the broker round trips at sanitizer speed.
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan -LE kafka --output-on-failure

echo "== ThreadSanitizer build and concurrency tests"
configure build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTORYD_SANITIZE=thread
cmake --build build-tsan
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
  ctest --test-dir build-tsan -L concurrency --output-on-failure
