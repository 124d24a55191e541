#!/usr/bin/env bash
# test_cli.sh - the vrampack command keeps its contract: exit codes 0/1/2, one-line errors that
# name the file and field, and no output file unless the whole job succeeded.
# Usage: test_cli.sh PATH/TO/vrampack SOURCE_DIR
set -uo pipefail
vp=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
check() { # name, condition...
  local name=$1; shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}

# A good plan: exit 0 (all placed) or 1 (some unplaced), a plan file that is JSON.
"$vp" plan "$src/examples/small.json" --out "$tmp/plan.json" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "plan of the small example exits 0" test $rc -eq 0
check "plan file is valid JSON with placements" \
  python3 -c "import json,sys; p=json.load(open(sys.argv[1])); assert p['version']==1 and p['placements']" "$tmp/plan.json"
check "no temp file is left beside the plan" bash -c "! ls '$tmp' | grep -q tmp"

# Reports in every format.
"$vp" plan "$src/examples/small.json" --report md >"$tmp/md" 2>/dev/null
check "markdown report has tables" grep -q '^|' "$tmp/md"
"$vp" plan "$src/examples/small.json" --report json >"$tmp/rj" 2>/dev/null
check "json report parses" python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$tmp/rj"
"$vp" plan "$src/examples/small.json" --report html >"$tmp/html" 2>/dev/null
check "html report is a page" grep -qi '<table' "$tmp/html"

# Bad input: exit 2, one line naming file and field, and no plan file written or replaced.
printf '{"models": [{"name": "a", "memory_bytes": -1}]}' >"$tmp/bad.json"
echo keep >"$tmp/existing.json"
"$vp" plan "$tmp/bad.json" --out "$tmp/existing.json" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "negative memory_bytes exits 2" test $rc -eq 2
check "the error names file, model and field" grep -q "bad.json: models\[0\] (a).memory_bytes" "$tmp/err"
check "the error is one line" test "$(wc -l <"$tmp/err")" -eq 1
check "an existing output file is left alone" grep -qx keep "$tmp/existing.json"
"$vp" plan "$tmp/bad.json" --out "$tmp/new.json" >/dev/null 2>&1
check "no output file appears on bad input" test ! -e "$tmp/new.json"

printf '{"models": [{"name": "a", "memory_bytes": 1000}]}' >"$tmp/ok.json"
printf '{"catalog": [{"type": "x", "gpus": {"B300": 8}, "price_per_hour": 1}]}' >"$tmp/fleet.json"
"$vp" plan "$tmp/ok.json" --fleet "$tmp/fleet.json" >/dev/null 2>"$tmp/err"
check "unknown GPU type in a fleet exits 2" test $? -eq 2
check "the fleet error names the GPU" grep -q 'unknown GPU model "B300"' "$tmp/err"
"$vp" plan "$tmp/missing.json" >/dev/null 2>"$tmp/err"
check "a missing manifest exits 2" test $? -eq 2
"$vp" plan "$tmp/ok.json" --solver magic >/dev/null 2>&1
check "an unknown solver exits 2" test $? -eq 2
"$vp" plan >/dev/null 2>&1
check "plan without a manifest exits 2" test $? -eq 2
"$vp" frobnicate >/dev/null 2>&1
check "an unknown command exits 2" test $? -eq 2
"$vp" plan --help | grep -q 'usage: vrampack plan'
check "plan --help prints usage" test $? -eq 0

# Unplaceable work: exit 1, listed with a reason.
printf '{"models": [{"name": "huge", "memory_bytes": 100000000000, "gpu_types": ["L4"]}]}' >"$tmp/huge.json"
"$vp" plan "$tmp/huge.json" --out "$tmp/huge-plan.json" >/dev/null 2>&1
check "a model that fits nowhere exits 1" test $? -eq 1
check "and the plan lists it as unplaced with a reason" \
  python3 -c "import json,sys; p=json.load(open(sys.argv[1])); u=p['unplaced'][0]; assert u['model']=='huge' and 'L4' in u['reason']" "$tmp/huge-plan.json"

# Rebalance: --max-moves is honoured and the move list is written.
"$vp" plan "$src/examples/small.json" --out "$tmp/cur.json" >/dev/null 2>&1
"$vp" plan "$src/examples/review.json" --current "$tmp/cur.json" --max-moves 0 --time-limit 2 \
  --moves "$tmp/moves.json" --out "$tmp/next.json" >/dev/null 2>&1
check "rebalance with --max-moves 0 migrates nothing" \
  python3 -c "import json,sys; m=json.load(open(sys.argv[1])); assert m['migrated_replicas']==0 and m['moves'], m" "$tmp/moves.json"
"$vp" plan "$src/examples/small.json" --max-moves 3 >/dev/null 2>&1
check "--max-moves without --current exits 2" test $? -eq 2

# estimate: exact bytes in JSON.
"$vp" estimate --hf-config "$src/tests/data/hf/llama-3.1-8b.json" --dtype bf16 --seq-len 8192 --json >"$tmp/est" 2>&1
check "estimate --json reports the official parameter count" \
  python3 -c "import json,sys; e=json.load(open(sys.argv[1])); assert e['params']==8030261248 and e['weights_bytes']==16060522496 and e['kv_cache_bytes']==1073741824, e" "$tmp/est"
"$vp" estimate --params -5 --layers 1 --kv-heads 1 --head-dim 1 >/dev/null 2>&1
check "estimate refuses a negative parameter count" test $? -eq 2

# estimate with an engine and a GPU: the engine's terms, the verdict and the KV capacity.
"$vp" estimate --hf-config "$src/tests/data/hf/llama-3.1-8b.json" --engine vllm --gpu A10G \
  --seq-len 8192 --json >"$tmp/est-vllm" 2>&1
check "estimate --engine vllm --gpu A10G prints fits, capacity, concurrency and named terms" \
  python3 -c "import json,sys; e=json.load(open(sys.argv[1])); assert e['fits'] is True and e['kv_capacity_tokens'] > 8192 and e['max_concurrency'] > 1 and e['terms']['activation_peak'] > 0 and e['terms']['non_torch'] > 0 and e['engine']=='vllm' and e['weights_bytes']==16060522496, e" "$tmp/est-vllm"
"$vp" estimate --hf-config "$src/tests/data/hf/llama-3.1-8b.json" --engine vllm --engine-version 0.6.4 \
  --gpu 25318167429 --seq-len 29000 --json >"$tmp/est-29k" 2>&1
check "Llama-3.1-8B at 29k tokens on a 24 GB card does not fit vLLM 0.6.4 (vllm#10517)" \
  python3 -c "import json,sys; e=json.load(open(sys.argv[1])); assert e['fits'] is False and 20000 < e['kv_capacity_tokens'] < 29000, e" "$tmp/est-29k"
"$vp" estimate --hf-config "$src/tests/data/hf/qwen2.5-7b-instruct-bnb-4bit.json" --seq-len 4096 >"$tmp/est-bnb" 2>&1
check "a config's quantization_config is said and used" grep -q "bnb-4bit" "$tmp/est-bnb"
"$vp" estimate --hf-config "$src/tests/data/hf/llama-3.1-8b.json" --engine vllm2 >/dev/null 2>&1
check "estimate refuses an unknown engine" test $? -eq 2
"$vp" estimate --hf-config "$src/tests/data/hf/llama-3.1-8b.json" --gpu-memory-utilization 0.8 >/dev/null 2>&1
check "--gpu-memory-utilization without --gpu exits 2" test $? -eq 2
"$vp" estimate --hf-config "$src/tests/data/hf/llama-3.1-8b.json" --gpu B200 >/dev/null 2>&1
check "estimate refuses an unknown GPU" test $? -eq 2
"$vp" estimate --help >"$tmp/est-help" 2>&1
check "estimate --help lists the engine profiles" grep -q "llama.cpp b5435+" "$tmp/est-help"

# estimate of workloads: training terms, images, a draft.
"$vp" estimate --hf-config "$src/tests/data/hf/meta-llama-3-8b.json" --train full --seq-len 4096 --json >"$tmp/est-train" 2>&1
check "estimate --train full names each term and the trainable parameters" \
  python3 -c "import json,sys; e=json.load(open(sys.argv[1])); t=e['terms']; assert e['trainable_params']==8030261248 and t['optimizer_states']==8*8030261248 and e['total_bytes']==133817237504, e" "$tmp/est-train"
"$vp" estimate --hf-config "$src/tests/data/hf/llava-1.5-7b.json" --images 2 --seq-len 2048 --json >"$tmp/est-img" 2>&1
check "estimate --images adds 576 tokens an image and the vision tower" \
  python3 -c "import json,sys; e=json.load(open(sys.argv[1])); assert e['seq_tokens']==3200 and e['terms']['vision_encoder']==648974336, e" "$tmp/est-img"
"$vp" estimate --hf-config "$src/tests/data/hf/llama-3.1-70b.json" --dtype fp8 \
  --draft-hf-config "$src/tests/data/hf/llama-3.2-1b.json" --seq-len 8192 --json >"$tmp/est-draft" 2>&1
check "estimate --draft-hf-config adds the draft's weights and KV" \
  python3 -c "import json,sys; e=json.load(open(sys.argv[1])); assert e['terms']['draft_weights']==2471628800 and e['seq_tokens']==8197, e" "$tmp/est-draft"
"$vp" estimate --hf-config "$src/tests/data/hf/llama-3.1-8b.json" --train dpo >/dev/null 2>&1
check "estimate refuses an unknown training method" test $? -eq 2
"$vp" estimate --hf-config "$src/tests/data/hf/llama-3.1-8b.json" --images 1 >/dev/null 2>&1
check "estimate refuses images for a model without a vision encoder" test $? -eq 2

# N+1: the review pair's report lists every node of the plan; with --spare-nodes 1 no loss buys.
"$vp" plan "$src/examples/review.json" --fleet "$src/examples/fleet.json" --time-limit 1 \
  --nplus1-time-limit 0.3 --report json >"$tmp/nl" 2>/dev/null
check "the N+1 table has one entry per node of the plan" \
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert [l['node'] for l in r['node_loss']]==[n['name'] for n in r['plan']['nodes']] and r['spare_nodes']==0, r['node_loss']" "$tmp/nl"
"$vp" plan "$src/examples/review.json" --fleet "$src/examples/fleet.json" --time-limit 1 \
  --nplus1-time-limit 0.3 --spare-nodes 1 --report json >"$tmp/nl1" 2>/dev/null
check "with --spare-nodes 1 every single loss re-places without buying, at a cost shown" \
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['spare_nodes']>=1 and r['spare_cost_per_hour']>0 and all(not l['needs_new_nodes'] and not l['unplaced'] for l in r['node_loss']) and sum(n.get('spare',False) for n in r['plan']['nodes'])==r['spare_nodes'], r['node_loss']" "$tmp/nl1"
"$vp" plan "$src/examples/small.json" --spare-nodes 2 >/dev/null 2>"$tmp/err"
rc=$?
check "--spare-nodes 2 is refused with exit 2" test $rc -eq 2
check "the refusal is one line naming the option" \
  bash -c "test \$(wc -l <'$tmp/err') -eq 1 && grep -q -- '--spare-nodes' '$tmp/err'"
printf '{"models": [{"name": "wide", "memory_bytes": "1Gi", "replicas": 1200, "spread": true}]}' >"$tmp/wide.json"
"$vp" plan "$tmp/wide.json" --time-limit 1 --report json >"$tmp/wide-r.json" 2>"$tmp/wide-err"
check "a plan of more than 1000 nodes skips the N+1 analysis and says so" \
  bash -c "grep -q 'N+1 analysis is skipped: the plan uses 1200 nodes' '$tmp/wide-err' && python3 -c \"import json,sys; assert json.load(open(sys.argv[1]))['node_loss'] is None\" '$tmp/wide-r.json'"
(cd "$src/examples" && "$vp" plan - --out "$tmp/stdin-plan.json" <small.json >/dev/null 2>&1)
check "plan reads its manifest from standard input" test -s "$tmp/stdin-plan.json"
check "the plan file carries the GPUs' physical memory" \
  python3 -c "import json,sys; p=json.load(open(sys.argv[1])); assert all('memory_bytes' in g for n in p['nodes'] for g in n['gpus']), p['nodes'][0]" "$tmp/stdin-plan.json"

[ $fails -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all CLI checks passed"
