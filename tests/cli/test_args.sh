#!/usr/bin/env bash
# test_args.sh - the vrampack command's arguments behave like those of the tools beside it:
# quantities such as "24Gi" wherever bytes are taken (flags, manifest and fleet fields) and the
# exact bytes they mean; getopt_long in every command (`--opt=value` and `--opt value`, --help,
# one-line usage errors with exit 2); `-` for standard input.
# Usage: test_args.sh PATH/TO/vrampack SOURCE_DIR
set -uo pipefail
vp=$1
src=$2
tmp=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
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
"$vp" plan "$tmp/qm.json" --fleet "$tmp/qf.json" --time-limit 1 --out "$tmp/qp.json" >/dev/null 2>"$tmp/err"
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

# ---- getopt_long everywhere -----------------------------------------------------------------
for cmd in estimate plan export controller agent submit status; do
  "$vp" "$cmd" --help >"$tmp/help" 2>&1
  rc=$?
  check "$cmd --help exits 0 with its usage" bash -c "[ $rc -eq 0 ] && grep -q '^usage: vrampack $cmd' '$tmp/help'"
done
for cmd in estimate export controller agent submit status; do
  "$vp" "$cmd" --no-such-option >/dev/null 2>"$tmp/err"
  rc=$?
  check "$cmd --no-such-option exits 2 with one line" \
    bash -c "[ $rc -eq 2 ] && [ \$(wc -l <'$tmp/err') -eq 1 ] && grep -q \"^vrampack $cmd: unknown option '--no-such-option' (see 'vrampack $cmd --help')\" '$tmp/err'"
done
"$vp" controller --state >/dev/null 2>"$tmp/err"
check "a flag without its value exits 2 saying so" grep -qx "vrampack controller: --state needs a value (see 'vrampack controller --help')" "$tmp/err"
"$vp" estimate "${arch[@]}" --json=yes >/dev/null 2>"$tmp/err"
check "a value on a flag that takes none exits 2 saying so" grep -q "^vrampack estimate: --json takes no value" "$tmp/err"
"$vp" agent --controller=127.0.0.1:1 --node=n1 --sim=L4:1:24Gx >/dev/null 2>"$tmp/err"
rc=$?
check "agent --opt=value forms parse, and a bad --sim quantity exits 2 naming it" \
  bash -c "[ $rc -eq 2 ] && grep -q 'bad byte count \"24Gx\"' '$tmp/err'"
"$vp" agent --controller 127.0.0.1:1 --node n1 --log-level loud >/dev/null 2>"$tmp/err"
check "agent --log-level refuses an unknown level" grep -q "^vrampack agent: --log-level: 'loud' is not debug, info, warn or error" "$tmp/err"
"$vp" controller --state "$tmp/s.db" --log-level=loud >/dev/null 2>"$tmp/err"
check "controller --log-level refuses it in the same words" grep -q "^vrampack controller: --log-level: 'loud' is not debug, info, warn or error" "$tmp/err"

# ---- standard input ---------------------------------------------------------------------------
"$vp" estimate --hf-config "$src/tests/data/hf/llama-3.1-8b.json" --json >"$tmp/e1" 2>&1
"$vp" estimate --hf-config - --json <"$src/tests/data/hf/llama-3.1-8b.json" >"$tmp/e2" 2>&1
check "estimate --hf-config - reads the config from stdin" cmp -s "$tmp/e1" "$tmp/e2"
"$vp" plan "$tmp/qm.json" --fleet "$tmp/qf.json" --time-limit 1 --out "$tmp/qp.json" >/dev/null 2>&1
"$vp" export "$tmp/qp.json" --format csv >"$tmp/c1" 2>&1
"$vp" export - --format=csv <"$tmp/qp.json" >"$tmp/c2" 2>&1
check "export - reads the plan from stdin (--format=csv as --format csv)" cmp -s "$tmp/c1" "$tmp/c2"
"$vp" export "$tmp/qp.json" --format k8s --fleet "$tmp/qf.json" --manifest - <"$tmp/qm.json" >"$tmp/k1" 2>&1
check "export --manifest - reads the manifest from stdin" grep -q '^kind: "Deployment"' "$tmp/k1"
echo '{"version": 1' | "$vp" export - --format csv >/dev/null 2>"$tmp/err"
check "a broken plan on stdin exits 2 naming stdin" grep -q '^vrampack export: stdin' "$tmp/err"
"$vp" export - --format csv --manifest - </dev/null >/dev/null 2>"$tmp/err"
check "PLAN and --manifest cannot both be stdin" grep -q 'cannot both be standard input' "$tmp/err"

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
