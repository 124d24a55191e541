#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a cost review: installs the dependencies,
# builds vrampack (build/), and plans the example fleet review on the built-in catalog.
# Progress goes to stderr; the review (text, or the format named by $1: md, html, json) to stdout.
set -euo pipefail
cd "$(dirname "$0")"
step() { printf '== %s\n' "$*" >&2; }
step "dependencies (Debian packages; installs only what is missing)"
scripts/deps.sh
step "configure (build/, Release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
step "build with $(nproc) jobs (a few minutes the first time)"
# cmake prints "[ 42%] Building C object ..." per file: keep those lines as progress, on stderr.
set +o pipefail
cmake --build build -j"$(nproc)" 2>&1 | { grep --line-buffered -E '^\[ *[0-9]+%\]|error|warning' || true; } >&2
built=${PIPESTATUS[0]}
set -o pipefail
[ "$built" -eq 0 ] || { echo "setup: the build failed (run: cmake --build build)" >&2; exit 1; }
step "built: build/vrampack, build/vrampack-worker; planning examples/review.json"
set +e
build/vrampack plan examples/review.json --out build/review-plan.json --report "${1:-text}"
rc=$?
set -e
# Exit 1 from plan means "some replicas could not be placed": the report lists them.
[ $rc -le 1 ] || exit $rc
