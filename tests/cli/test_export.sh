#!/usr/bin/env bash
# test_export.sh - `vrampack export` of the review example's plan: the CSV parses with one row per
# placement, the vllm script starts one engine per placement on each node (a stand-in `vllm` and
# `ray` on PATH record how they were started), and bad input exits 2 with one line and no file.
# Usage: test_export.sh PATH/TO/vrampack SOURCE_DIR
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

(cd "$src/examples" && "$vp" plan review.json --out "$tmp/plan.json") >/dev/null 2>"$tmp/err"
check "the review example plans" test -s "$tmp/plan.json"

# CSV: a header and one row per placement, ids in plan order, shares that match the bytes.
"$vp" export "$tmp/plan.json" --format=csv --out "$tmp/plan.csv" 2>"$tmp/err"
check "export --format=csv exits 0" test $? -eq 0
check "the CSV parses with one row per placement" python3 - "$tmp/plan.json" "$tmp/plan.csv" <<'PY'
import csv, json, sys
plan = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(open(sys.argv[2], newline="")))
assert [r["id"] for r in rows] == [p["id"] for p in plan["placements"]], "ids differ"
for r, p in zip(rows, plan["placements"]):
    assert r["node"] == p["node"] and int(r["bytes_per_gpu"]) == p["bytes_per_gpu"], r["id"]
    assert r["gpus"] == ";".join(str(g) for g in p["gpus"]), r["id"]
    mem = int(r["gpu_memory_bytes"])
    assert float(r["memory_fraction"]) == int(p["bytes_per_gpu"] * 10000 // mem) / 10000, r["id"]
PY

# vllm: run the script on every node with stand-ins for vllm and ray that log their start.
mkdir -p "$tmp/bin"
for tool in vllm ray; do
  printf '#!/bin/sh\necho "$VRAMPACK_NODE|$VRAMPACK_PLACEMENT|$CUDA_VISIBLE_DEVICES|%s $*" >>"%s"\n' \
    "$tool" "$tmp/started" >"$tmp/bin/$tool"
  chmod +x "$tmp/bin/$tool"
done
(cd "$src/examples" && "$vp" export "$tmp/plan.json" --format vllm --manifest review.json) \
  >"$tmp/start.sh" 2>"$tmp/err"
check "export --format vllm exits 0" test $? -eq 0
nodes=$(python3 -c "import json,sys; print(' '.join(sorted({p['node'] for p in json.load(open(sys.argv[1]))['placements']})))" "$tmp/plan.json")
ok=1
for n in $nodes; do
  VRAMPACK_NODE=$n PATH="$tmp/bin:$PATH" sh "$tmp/start.sh" || ok=0
done
check "the script runs on every node of the plan" test $ok -eq 1
VRAMPACK_NODE=no-such-node sh "$tmp/start.sh" 2>"$tmp/err"
check "on a node outside the plan the script exits 1" test $? -eq 1
check "every placement was started once, on its node, GPUs and port" python3 - "$tmp/plan.json" "$tmp/started" <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))
started = [l.rstrip("\n").split("|", 3) for l in open(sys.argv[2])]
by_id = {s[1]: s for s in started}
assert len(started) == len(by_id) == len(plan["placements"]), (len(started), len(plan["placements"]))
ports = {}
for p in plan["placements"]:
    node, pid, gpus, cmd = by_id[p["id"]]
    assert node == p["node"] and gpus == ",".join(map(str, p["gpus"])), p["id"]
    argv = cmd.split()
    if p.get("stage", 0) > 0:
        assert argv[:3] == ["ray", "start", "--block"], cmd
        continue
    assert argv[:2] == ["vllm", "serve"], cmd
    assert argv[argv.index("--tensor-parallel-size") + 1] == str(len(p["gpus"])), cmd
    share = float(argv[argv.index("--gpu-memory-utilization") + 1])
    assert 0 < share <= p["bytes_per_gpu"] / p["gpu_usable_bytes"], cmd
    port = argv[argv.index("--port") + 1]
    assert (node, port) not in ports, f"port {port} twice on {node}"
    ports[(node, port)] = pid
PY

# The same script starts real processes: the engine tests' stand-in for vLLM (fake_engine.py,
# which parses --port and answers /health like vLLM) on every engine line of one node; each
# engine must answer 200 on its port. Ports from a range below the kernel's ephemeral ports
# (where other tests' connections come from) whose 64 ports all bind now, so parallel tests do
# not collide.
base=$(python3 - <<'PY'
import random, socket
for _ in range(200):
    base = random.randrange(20000, 32000 - 64)
    socks = []
    try:
        for p in range(base, base + 64):
            s = socket.socket()
            socks.append(s)
            s.bind(("0.0.0.0", p))
        print(base)
        break
    except OSError:
        pass
    finally:
        for s in socks:
            s.close()
PY
)
(cd "$src/examples" && "$vp" export "$tmp/plan.json" --format vllm --manifest review.json \
  --base-port "$base") >"$tmp/start-real.sh" 2>"$tmp/err"
mkdir -p "$tmp/fake"
printf '#!/bin/sh\nexec python3 "%s" "$@"\n' "$src/tests/agent/fake_engine.py" >"$tmp/fake/vllm"
chmod +x "$tmp/fake/vllm"
busiest=$(python3 -c "
import json,sys,collections
p=json.load(open(sys.argv[1]))
c=collections.Counter(x['node'] for x in p['placements'] if x.get('stage',0)==0 and x.get('n_stages',1)==1)
print(c.most_common(1)[0][0])" "$tmp/plan.json")
FAKE_ENGINE_LOG="$tmp/fake.log" FAKE_ENGINE_LOAD_MS=200 VRAMPACK_NODE=$busiest PATH="$tmp/fake:$PATH" \
  setsid sh "$tmp/start-real.sh" >/dev/null 2>&1 &
script_pid=$!
check "every engine the vllm script starts on $busiest answers /health 200 on its port" \
  python3 - "$tmp/start-real.sh" "$busiest" <<'PY'
import re, sys, time, urllib.request
lines = [l for l in open(sys.argv[1]) if f"VRAMPACK_NODE='{sys.argv[2]}'" in l and "'vllm' 'serve'" in l]
ports = [int(re.search(r"'--port' '(\d+)'", l).group(1)) for l in lines]
assert ports, "no engine lines"
deadline = time.time() + 30
for port in ports:
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                if r.status == 200:
                    break
        except Exception:
            pass
        if time.time() > deadline:
            raise SystemExit(f"port {port}: no 200 from /health")
        time.sleep(0.1)
print(len(ports), "engines ready")
PY
kill -TERM -- -"$script_pid" 2>/dev/null
wait "$script_pid" 2>/dev/null
check "the fake engines saw the exported flags" python3 - "$tmp/fake.log" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if '"argv"' in l]
assert recs, "no engine started"
for r in recs:
    a = r["argv"]
    assert a[1] == "serve" and "--gpu-memory-utilization" in a and "--tensor-parallel-size" in a, a
PY

# Bad input: exit 2, one line, nothing written.
"$vp" export "$tmp/plan.json" --out "$tmp/x.yaml" >/dev/null 2>"$tmp/err"
check "a missing --format exits 2" test $? -eq 2
"$vp" export "$tmp/plan.json" --format yaml >/dev/null 2>"$tmp/err"
check "an unknown format exits 2 naming it" bash -c "test $? -eq 2 && grep -q \"'yaml' is not k8s, csv or vllm\" '$tmp/err'"
printf '{"version": 1, "nodes": [], "placements": [{"model": "a"}]}' >"$tmp/bad.json"
"$vp" export "$tmp/bad.json" --format k8s --out "$tmp/bad.yaml" >/dev/null 2>"$tmp/err"
check "a broken plan exits 2" test $? -eq 2
check "its error names the file and field in one line" \
  bash -c "grep -q 'bad.json: placements\[0\]' '$tmp/err' && test \$(wc -l <'$tmp/err') -eq 1"
check "no output file is left" test ! -e "$tmp/bad.yaml"
printf '{"models": [{"name": "other", "memory_bytes": 1000}]}' >"$tmp/other.json"
"$vp" export "$tmp/plan.json" --format k8s --manifest "$tmp/other.json" >/dev/null 2>"$tmp/err"
check "a manifest without the plan's models exits 2" test $? -eq 2
"$vp" export --help | grep -q 'usage: vrampack export'
check "export --help prints usage" test $? -eq 0

# LoRA adapters and speculative drafts: the vllm script passes the flags an agent's launch
# passes (the engine module's table), in the spelling of the manifest's engine_version, and a
# draft without speculative.source is refused naming the field.
hf="$src/examples/hf"
cat >"$tmp/wl.json" <<EOF
{"models": [
  {"name": "support", "hf_config": "$hf/llama-3.1-8b.json", "engine": "vllm",
   "source": "meta-llama/Llama-3.1-8B-Instruct", "max_seq_len": 4096, "max_batch": 4,
   "lora": {"adapters": 40, "rank": 16}},
  {"name": "chat", "hf_config": "$hf/llama-3.1-8b.json", "engine": "vllm", "max_seq_len": 4096,
   "speculative": {"hf_config": "$hf/llama-3.2-1b.json", "source": "meta-llama/Llama-3.2-1B",
                   "num_tokens": 3}},
  {"name": "old", "hf_config": "$hf/llama-3.1-8b.json", "engine": "vllm", "engine_version": "0.7.3",
   "max_seq_len": 4096, "speculative": {"hf_config": "$hf/llama-3.2-1b.json", "source": "/models/d"}}
]}
EOF
"$vp" plan "$tmp/wl.json" --out "$tmp/wl-plan.json" >/dev/null 2>"$tmp/err"
check "a manifest with adapters and drafts plans" test -s "$tmp/wl-plan.json"
"$vp" export "$tmp/wl-plan.json" --format vllm --manifest "$tmp/wl.json" >"$tmp/wl.sh" 2>"$tmp/err"
check "its vllm script exports" test $? -eq 0
check "the vllm script passes the adapters' and drafts' flags" python3 - "$tmp/wl.sh" <<'PY'
import shlex, sys
argv = {}
for line in open(sys.argv[1]):
    if "VRAMPACK_PLACEMENT=" in line and "'vllm'" in line:
        words = shlex.split(line.strip().rstrip("&"))
        pl = next(w.split("=", 1)[1] for w in words if w.startswith("VRAMPACK_PLACEMENT="))
        argv[pl] = words[words.index("vllm"):]
def after(a, flag):
    assert flag in a, (flag, a)
    return a[a.index(flag) + 1]
s = argv["support/0"]
assert "--enable-lora" in s, s
assert after(s, "--max-loras") == "8" and after(s, "--max-lora-rank") == "16", s
assert not any(w.startswith("--speculative") for w in s), s
c = argv["chat/0"]
assert after(c, "--speculative-config") == \
    '{"model": "meta-llama/Llama-3.2-1B", "num_speculative_tokens": 3}', c
assert "--enable-lora" not in c, c
o = argv["old/0"]  # engine_version 0.7.3: before --speculative-config
assert after(o, "--speculative-model") == "/models/d", o
assert after(o, "--num-speculative-tokens") == "5", o
assert "--speculative-config" not in o, o
PY
sed 's|, "source": "/models/d"||' "$tmp/wl.json" >"$tmp/wl-nosrc.json"
"$vp" export "$tmp/wl-plan.json" --format vllm --manifest "$tmp/wl-nosrc.json" >"$tmp/x.sh" \
  2>"$tmp/err"
check "a draft without speculative.source exits 2" test $? -eq 2
check "its one error line names old/0 and speculative.source" \
  bash -c "grep -q 'old/0: speculative.source' '$tmp/err' && test \$(wc -l <'$tmp/err') -eq 1"

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
