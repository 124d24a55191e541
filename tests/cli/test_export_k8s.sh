#!/usr/bin/env bash
# test_export_k8s.sh - `vrampack export --format k8s` of the review example passes the Kubernetes
# schema (kubernetes-models from npm, installed into tests/cli/k8s by scripts/deps.sh), for the
# manifest's engines and with every model on vLLM; and the checker itself refuses a broken file.
# Usage: test_export_k8s.sh PATH/TO/vrampack SOURCE_DIR   (exit 77: the checker is not installed)
set -uo pipefail
vp=$1
src=$2
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v node >/dev/null || [ ! -d "$here/k8s/node_modules/kubernetes-models" ]; then
  echo "skip: node or tests/cli/k8s/node_modules missing (scripts/deps.sh installs them)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 passes=0
check() { # name, condition...
  local name=$1; shift
  if "$@"; then echo "ok   $name"; passes=$((passes + 1)); else echo "FAIL $name"; fails=$((fails + 1)); fi
}
(cd "$src/examples" && "$vp" plan review.json --out "$tmp/plan.json") >/dev/null 2>&1
n=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['placements']))" "$tmp/plan.json")
for engine in "" vllm sglang; do
  (cd "$src/examples" && "$vp" export "$tmp/plan.json" --format k8s --manifest review.json \
    ${engine:+--engine $engine}) >"$tmp/k8s$engine.yaml" 2>/dev/null
  node "$here/k8s/validate.mjs" "$tmp/k8s$engine.yaml" >"$tmp/out" 2>&1
  rc=$?
  tail -1 "$tmp/out"
  check "k8s export (engine ${engine:-of the manifest}) passes the schema" test $rc -eq 0
  check "it has one Deployment per placement ($n)" grep -q "^$n documents, 0 invalid" "$tmp/out"
done
check "every vLLM Deployment is ready on /health" \
  test "$(grep -c 'path: "/health"' "$tmp/k8svllm.yaml")" -ge "$n"
sed '0,/replicas: 1/s//replicas: "one"/' "$tmp/k8svllm.yaml" >"$tmp/broken.yaml"
node "$here/k8s/validate.mjs" "$tmp/broken.yaml" >"$tmp/out" 2>&1
check "the checker refuses a Deployment whose replicas is a string" \
  bash -c "test $? -eq 1 && grep -q 'spec/replicas must be integer' '$tmp/out'"

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
