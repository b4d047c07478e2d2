#!/usr/bin/env bash
# The whole test suite: installs what is missing, then builds and runs
#   1. every test in the release build (build/),
#   2. every test under AddressSanitizer + UBSan (build-asan/, clang), and the
#      libFuzzer targets for a bounded time,
#   3. the index and concurrency tests under ThreadSanitizer (build-tsan/).
# Safe to run twice: build trees are reused.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/deploy/setup.sh"

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
ctest --test-dir build --output-on-failure

echo "== AddressSanitizer + UBSan build and tests"
configure build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ \
  -DSTORYD_SANITIZE=address,undefined -DSTORYD_BUILD_FUZZ=ON
cmake --build build-asan
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure

echo "== ThreadSanitizer build and concurrency tests"
configure build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTORYD_SANITIZE=thread
cmake --build build-tsan
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
  ctest --test-dir build-tsan -L concurrency --output-on-failure
