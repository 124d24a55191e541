#!/usr/bin/env bash
# test_args.sh - the vrampack command's arguments behave like those of the tools beside it:
# quantities such as "24Gi" wherever bytes are taken (flags, manifest and fleet fields), and the
# exact bytes they mean in the output.
# Usage: test_args.sh PATH/TO/vrampack SOURCE_DIR
set -uo pipefail
vp=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 passes=0
check() { # name, condition...
  local name=$1; shift
  if "$@"; then echo "ok   $name"; passes=$((passes + 1)); else echo "FAIL $name"; fails=$((fails + 1)); fi
}
json_is() { # file, python expression over j
  python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert $2, j" "$1" 2>/dev/null
}
arch=(--params 8B --layers 32 --kv-heads 8 --head-dim 128)

# ---- quantities --------------------------------------------------------------------------
"$vp" estimate "${arch[@]}" --gpu 24Gi --cuda-context 1Gi --json >"$tmp/q1" 2>"$tmp/err"
"$vp" estimate "${arch[@]}" --gpu=25769803776 --cuda-context=1073741824 --json >"$tmp/q2" 2>&1
check "estimate --gpu 24Gi is 25769803776 bytes" json_is "$tmp/q1" "j['gpu_bytes']==25769803776"
check "estimate --cuda-context 1Gi is 1073741824 bytes" json_is "$tmp/q1" "j['cuda_context_bytes']==1073741824"
check "a quantity and its bytes estimate the same" cmp -s "$tmp/q1" "$tmp/q2"
"$vp" estimate "${arch[@]}" --gpu 80G --json >"$tmp/q3" 2>&1
check "estimate --gpu 80G is decimal: 80000000000 bytes" json_is "$tmp/q3" "j['gpu_bytes']==80000000000"
"$vp" estimate "${arch[@]}" --gpu 24Gx >/dev/null 2>"$tmp/err"
check "estimate --gpu 24Gx exits 2" test $? -eq 2
check "and says what a byte count looks like" grep -q "^vrampack estimate: --gpu: '24Gx' is not a byte count" "$tmp/err"
check "in one line" test "$(wc -l <"$tmp/err")" -eq 1

cat >"$tmp/qm.json" <<'EOF'
{"defaults": {"cuda_context_bytes": "512Mi"},
 "models": [{"name": "emb", "memory_bytes": "6Gi", "replicas": 2},
            {"name": "small", "params": 1000000000, "layers": 16, "kv_heads": 8, "head_dim": 64,
             "dtype": "fp16", "cuda_context_bytes": "0.5Gi"}]}
EOF
cat >"$tmp/qf.json" <<'EOF'
{"gpu_memory_utilization": 1.0,
 "gpu_models": [{"name": "X24", "memory_bytes": "24Gi", "cuda_bytes": "23.5Gi", "bandwidth_gbs": 900}],
 "catalog": [{"type": "x1", "gpus": {"X24": 1}, "price_per_hour": 1.0, "max_count": 4}]}
EOF
"$vp" plan "$tmp/qm.json" --fleet "$tmp/qf.json" --out "$tmp/qp.json" >/dev/null 2>"$tmp/err"
check "a manifest and fleet with quantities plan" test $? -eq 0
check "memory_bytes \"6Gi\" places 6442450944 bytes" \
  json_is "$tmp/qp.json" "[p['bytes_per_gpu'] for p in j['placements'] if p['model']=='emb']==[6442450944]*2"
check "gpu_models[].memory_bytes \"24Gi\" is a GPU of 25769803776 bytes" \
  json_is "$tmp/qp.json" "all(g['usable_bytes']==25769803776 for n in j['nodes'] for g in n['gpus'])"
sed 's/"6Gi"/"6 GiB"/' "$tmp/qm.json" >"$tmp/qbad.json"
"$vp" plan "$tmp/qbad.json" --fleet "$tmp/qf.json" >/dev/null 2>"$tmp/err"
check "a malformed quantity in a manifest exits 2" test $? -eq 2
check "naming the file, the model and the field" grep -q 'qbad.json: models\[0\] (emb).memory_bytes: must be a byte count' "$tmp/err"
sed 's/"24Gi"/"24Qi"/' "$tmp/qf.json" >"$tmp/qfbad.json"
"$vp" plan "$tmp/qm.json" --fleet "$tmp/qfbad.json" >/dev/null 2>"$tmp/err"
check "a malformed quantity in a fleet exits 2 naming gpu_models[0].memory_bytes" \
  grep -q 'qfbad.json: gpu_models\[0\].*memory_bytes' "$tmp/err"

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
