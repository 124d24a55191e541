#!/usr/bin/env bash
# The whole test suite: installs missing dependencies, then
#   1. builds with -Werror and runs every ctest entry,
#   2. rebuilds with AddressSanitizer + UndefinedBehaviorSanitizer and runs them again,
#   3. runs the pure modules' tests under valgrind (leaks are errors),
#   4. builds the libFuzzer targets with clang and runs each one briefly.
# Usage: ./test.sh            (FUZZ_SECONDS=N to fuzz longer; default 20 s per target)
set -euo pipefail
cd "$(dirname "$0")"
scripts/deps.sh
jobs=$(nproc)
export CTEST_OUTPUT_ON_FAILURE=1

step() { printf '\n== %s\n' "$*"; }

step "build (gcc, -Werror) and ctest"
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVP_WERROR=ON >/dev/null
cmake --build build-test -j"$jobs"
ctest --test-dir build-test -j"$jobs" --timeout 600

step "solver unit: no include or call cycles, files <= 800 lines, functions <= 100 lines"
python3 scripts/check_solver_graph.py build-test

step "AddressSanitizer + UndefinedBehaviorSanitizer build and ctest"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DVP_SANITIZE=ON -DVP_CUDA=OFF >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -j"$jobs" --timeout 900

step "valgrind on the pure modules"
for t in common_test_vp placement_test_placement planner_test_manifest planner_test_footprint \
         planner_test_hfconfig proto_test_frame proto_test_msg engine_test_engine; do
  bin=build-test/tests/$t
  [ -x "$bin" ] || continue
  valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=1 \
    "$bin" >/dev/null
  echo "valgrind clean: $t"
done

step "fuzz the parsers (clang + libFuzzer)"
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DVP_FUZZ=ON \
  -DVP_CUDA=OFF >/dev/null
cmake --build build-fuzz -j"$jobs" --target $(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$//')
for src in tests/fuzz/fuzz_*.c; do
  name=$(basename "$src" .c)
  mkdir -p build-fuzz/corpus/$name
  build-fuzz/tests/$name -max_total_time="${FUZZ_SECONDS:-20}" -max_len=65536 \
    build-fuzz/corpus/$name tests/fuzz/seeds 2>&1 | tail -1
done

step "all tests passed"
