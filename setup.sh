#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a cost review: installs the dependencies,
# builds vrampack (build/), and plans the example fleet review on the built-in catalog.
set -euo pipefail
cd "$(dirname "$0")"
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
echo "built: build/vrampack, build/vrampack-worker" >&2
set +e
build/vrampack plan examples/review.json --out build/review-plan.json --report "${1:-text}"
rc=$?
set -e
# Exit 1 from plan means "some replicas could not be placed": the report lists them.
[ $rc -le 1 ] || exit $rc
