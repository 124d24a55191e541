#!/usr/bin/env bash
# test_client.sh - `vrampack submit` and `status` against a real controller and three simulated
# agents on loopback: VRAMPACK_API and VRAMPACK_TOKEN_FILE defaults (flags win), a manifest from
# standard input with a relative hf_config, `--opt=value` and `--opt value`, -o json|wide|name,
# sorted and aligned tables, and one-line errors for a refused connection, a silent server and a
# refused token. Also: the agents take --sim quantities and log in the shared line format.
# Usage: test_client.sh PATH/TO/vrampack SOURCE_DIR
set -uo pipefail
vp=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
src=$(cd "$2" && pwd)
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  [ -n "${KEEP:-}" ] || rm -rf "$tmp"; [ -n "${KEEP:-}" ] && echo "kept $tmp"
}
trap cleanup EXIT
fails=0 passes=0
check() { # name, condition...
  local name=$1; shift
  if "$@"; then echo "ok   $name"; passes=$((passes + 1)); else echo "FAIL $name"; fails=$((fails + 1)); fi
}
wait_for() { # seconds, command...: polls every 0.1 s
  local n=$(($1 * 10)); shift
  while [ $n -gt 0 ]; do "$@" && return 0; sleep 0.1; n=$((n - 1)); done
  return 1
}
unset VRAMPACK_API VRAMPACK_TOKEN_FILE
"$vp" controller --help >/dev/null 2>&1 || { echo "skip: this build has no controller"; exit 77; }
"$vp" agent --help >/dev/null 2>&1 || { echo "skip: this build has no agent"; exit 77; }

echo s3cret-admin >"$tmp/admin.token"
echo wrong-token >"$tmp/bad.token"
"$vp" controller --state "$tmp/state.db" --listen=127.0.0.1:0 --api 127.0.0.1:0 \
  --api-token-file "$tmp/admin.token" --heartbeat-ms 200 --log-level=info >"$tmp/ctl.log" 2>&1 &
pids+=($!)
wait_for 10 grep -q 'msg=listening' "$tmp/ctl.log"
agents=$(grep -o 'agents=[^ ]*' "$tmp/ctl.log" | cut -d= -f2)
api=$(grep -o ' api=[^ ]*' "$tmp/ctl.log" | cut -d= -f2)
check "the controller listens (log: ts= level= msg=listening)" \
  grep -q '^ts=[0-9T:.-]*Z level=info msg=listening agents=127.0.0.1:' "$tmp/ctl.log"
for n in gpu-10 gpu-2 a-rather-long-node-name-that-no-fixed-column-fits; do
  "$vp" agent --controller="$agents" --node "$n" --sim L4:2:24Gi --state-dir "$tmp/agent-$n" \
    --log-level info >"$tmp/agent-$n.log" 2>&1 &
  pids+=($!)
done

export VRAMPACK_API=$api VRAMPACK_TOKEN_FILE=$tmp/admin.token
nodes_up() { [ "$("$vp" status -o name 2>/dev/null | grep -c '^node/')" -eq 3 ]; }
check "three agents register (status from VRAMPACK_API and VRAMPACK_TOKEN_FILE)" wait_for 10 nodes_up
check "agents log in the shared format, node=NAME after msg" \
  grep -q '^ts=[0-9T:.-]*Z level=info msg=gpu node=gpu-2 index=0 model=L4 total_bytes=25769803776' "$tmp/agent-gpu-2.log"

# A manifest on standard input; its hf_config is relative to the current directory.
mkdir -p "$tmp/work/hf"
cp "$src/tests/data/hf/llama-3.2-1b.json" "$tmp/work/hf/"
cat >"$tmp/work/m.json" <<'EOF'
{"models": [{"name": "emb", "memory_bytes": "2Gi", "replicas": 11},
            {"name": "tiny", "hf_config": "hf/llama-3.2-1b.json", "dtype": "bf16",
             "max_seq_len": 2048, "cuda_context_bytes": "256Mi"},
            {"name": "giant", "memory_bytes": "200Gi"}]}
EOF
(cd "$tmp/work" && "$vp" submit - --dry-run <m.json) >"$tmp/dry" 2>&1
rc=$?
check "submit - --dry-run exits 1 (giant is unplaceable)" \
  bash -c "[ $rc -eq 1 ] && grep -q '^dry run of stdin: 3 models, 12 placements' '$tmp/dry'"
check "and changes nothing" bash -c "! '$vp' status -o name | grep -q placement/"
(cd "$tmp/work" && "$vp" submit - <m.json) >"$tmp/sub" 2>&1
check "submit - reads stdin and resolves hf/ against the current directory" \
  grep -q '^submitted stdin: 3 models, 12 placements' "$tmp/sub"
check "and names the replica it could not place" grep -q 'unplaced giant/0: ' "$tmp/sub"

# Flags win over the environment; both option forms work.
VRAMPACK_API=127.0.0.1:1 VRAMPACK_TOKEN_FILE=$tmp/bad.token \
  "$vp" status --api="$api" --token-file "$tmp/admin.token" -o json >"$tmp/st.json" 2>"$tmp/err"
check "--api=V and --token-file V win over the environment" test $? -eq 0
check "-o json is the API's objects, nodes by name, placements by id" python3 - "$tmp/st.json" <<'PY'
import json, re, sys
j = json.load(open(sys.argv[1]))
names = [n["name"] for n in j["nodes"]]
assert names == ["a-rather-long-node-name-that-no-fixed-column-fits", "gpu-2", "gpu-10"], names
assert all(g["total_bytes"] == 25769803776 for n in j["nodes"] for g in n["gpus"])
key = lambda s: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]
ids = [p["id"] for p in j["placements"]]
assert ids == sorted(ids, key=key) and "emb/10" in ids and ids.index("emb/2") < ids.index("emb/10"), ids
assert {"id", "model", "replica", "node", "gpus", "bytes_per_gpu", "state"} <= set(j["placements"][0])
PY
"$vp" status -o name >"$tmp/names"
check "-o name prints node/NAME then placement/ID, one a line" \
  python3 -c "import sys; l=open(sys.argv[1]).read().split(); assert l[0]=='node/a-rather-long-node-name-that-no-fixed-column-fits' and l[2]=='node/gpu-10' and l[3]=='placement/emb/0' and len(l)==3+13, l" "$tmp/names"
"$vp" status --json >"$tmp/st2.json"
check "--json is -o json" python3 -c "import json,sys; assert len(json.load(open(sys.argv[1]))['placements'])==13" "$tmp/st2.json"

aligned() { # file, header word: every row of that table starts its columns where the header does
  python3 - "$1" "$2" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().split("\n")
h = next(i for i, l in enumerate(lines) if l.strip().startswith(sys.argv[2] + " "))
head = lines[h]
starts = [m.start() for m in re.finditer(r"(?<=   )\S", head)]
rows = []
for l in lines[h + 1:]:
    if not l.strip():
        break
    rows.append(l)
assert rows, "no rows"
for r in rows:
    for s in starts:
        assert len(r) <= s or (r[s - 1] == " " and r[s] != " ") or r[s:].strip() == "", (s, r)
PY
}
"$vp" status >"$tmp/table"
check "the node table lines up beside a 50-character name" aligned "$tmp/table" NAME
check "the placement table lines up" aligned "$tmp/table" ID
check "the table lists nodes by name (gpu-2 before gpu-10)" \
  python3 -c "import sys; t=open(sys.argv[1]).read(); assert t.index('  gpu-2 ') < t.index('  gpu-10 ')" "$tmp/table"
"$vp" status -o wide >"$tmp/wide"
check "-o wide adds engine, revision, endpoint and price columns" \
  bash -c "grep -q '  ID .* MODEL .* ENGINE .* REV .* ENDPOINT .* PID ' '$tmp/wide' && grep -q ' TYPE .* \\\$/HOUR .* HOST .* VERSION ' '$tmp/wide'"
check "and lines them up too" aligned "$tmp/wide" ID
check "the wide node table too" aligned "$tmp/wide" NAME

# Errors: one line each, exit 1 when no answer came, 2 when the request was refused.
"$vp" status --api 127.0.0.1:1 >/dev/null 2>"$tmp/err"
rc=$?
check "a refused connection exits 1" test $rc -eq 1
check "with one line naming the address" \
  bash -c "[ \$(wc -l <'$tmp/err') -eq 1 ] && grep -qx 'vrampack status: 127.0.0.1:1: cannot connect: Connection refused' '$tmp/err'"
python3 -c "
import socket, sys, time
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(8)
open(sys.argv[1], 'w').write(str(s.getsockname()[1])); time.sleep(20)" "$tmp/silent.port" &
pids+=($!)
wait_for 5 test -s "$tmp/silent.port"
start=$(date +%s%N)
"$vp" status --api "127.0.0.1:$(cat "$tmp/silent.port")" --timeout 0.5 >/dev/null 2>"$tmp/err"
rc=$?
took=$((($(date +%s%N) - start) / 1000000))
check "a silent server times out with exit 1 (took ${took} ms)" bash -c "[ $rc -eq 1 ] && [ $took -lt 3000 ]"
check "saying so in one line" grep -qx "vrampack status: 127.0.0.1:[0-9]*: no answer within 500 ms" "$tmp/err"
VRAMPACK_TOKEN_FILE=$tmp/bad.token "$vp" status >/dev/null 2>"$tmp/err"
rc=$?
check "a wrong token exits 2 with the server's message" \
  bash -c "[ $rc -eq 2 ] && grep -qx 'vrampack status: /v1/nodes: HTTP 401: missing or wrong bearer token' '$tmp/err'"
(unset VRAMPACK_API; "$vp" status >/dev/null 2>"$tmp/err")
rc=$?
check "no --api and no VRAMPACK_API exits 2 naming both" \
  bash -c "[ $rc -eq 2 ] && grep -q -- '--api HOST:PORT is required (or set VRAMPACK_API)' '$tmp/err'"
VRAMPACK_API=nonsense "$vp" status >/dev/null 2>"$tmp/err"
rc=$?
check "a malformed VRAMPACK_API is named as such" \
  bash -c "[ $rc -eq 2 ] && grep -q \"VRAMPACK_API: 'nonsense' is not HOST:PORT\" '$tmp/err'"
printf '{"models": [{"name": "x", "hf_config": "hf/missing.json"}]}' |
  (cd "$tmp/work" && "$vp" submit -) >/dev/null 2>"$tmp/err"
rc=$?
check "a bad manifest on stdin exits 2 naming stdin, the model and the field" \
  bash -c "[ $rc -eq 2 ] && grep -q '^vrampack submit: stdin: models\[0\] (x).hf_config: ' '$tmp/err'"
"$vp" status -o yaml >/dev/null 2>"$tmp/err"
rc=$?
check "an unknown -o exits 2 in one line" \
  bash -c "[ $rc -eq 2 ] && [ \$(wc -l <'$tmp/err') -eq 1 ]"

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
