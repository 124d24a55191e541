#!/usr/bin/env bash
# test_sigint.sh - a long solve prints progress about once a second on stderr, and SIGINT ends
# it with the best plan found so far written as usual (exit 0: everything placed).
# The instance (Hard28 BPP14, 160 items, optimum 62) cannot be proven optimal by the planner's
# bounds (its linear relaxation is 61), so the solve would run its whole 30 s limit.
# Usage: test_sigint.sh PATH/TO/vrampack SOURCE_DIR
set -uo pipefail
vp=$1
src=$2
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
fails=0
check() { # name, condition...
  local name=$1; shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}

python3 - "$src/tests/data/bpp/Hard28_BPP14.txt" "$tmp" <<'PY'
import collections, json, sys
v = open(sys.argv[1]).read().split()
n, cap, sizes = int(v[0]), int(v[1]), [int(x) for x in v[2:]]
counts = collections.Counter(sizes)
json.dump({"models": [{"name": "s%d" % s, "memory_bytes": s << 20, "replicas": k}
                      for s, k in sorted(counts.items())]}, open(sys.argv[2] + "/m.json", "w"))
json.dump({"gpu_memory_utilization": 1.0,
           "gpu_models": [{"name": "BIN", "memory_bytes": cap << 20}],
           "catalog": [{"type": "bin", "gpus": {"BIN": 1}, "price_per_hour": 1}]},
          open(sys.argv[2] + "/f.json", "w"))
PY

start=$(date +%s.%N)
"$vp" plan "$tmp/m.json" --fleet "$tmp/f.json" --time-limit 30 --progress --out "$tmp/plan.json" \
  >"$tmp/out" 2>"$tmp/err" &
pid=$!
# Wait for three progress lines (about three seconds), then interrupt.
for _ in $(seq 1 200); do
  [ "$(grep -c '^\[' "$tmp/err")" -ge 3 ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
running=0
kill -0 "$pid" 2>/dev/null && running=1
check "the solve is still running after three progress lines" test $running -eq 1
sent=$(date +%s.%N)
kill -INT "$pid"
wait "$pid"
rc=$?
pid=
end=$(date +%s.%N)
elapsed=$(python3 -c "print(int($end - $start))")
after=$(python3 -c "print(round($end - $sent, 1))")
check "SIGINT ends the solve with exit 0" test $rc -eq 0
check "it ends well before the 30 s limit (after ${elapsed} s)" test "$elapsed" -lt 20
# The longest step that polls nothing is one branch and cut over the columns (at most 2 s).
check "it ends within 5 s of the signal (after ${after} s)" \
  python3 -c "import sys; sys.exit(0 if $end - $sent < 5 else 1)"
check "progress lines show elapsed time, cost, bound and gap" \
  grep -qE '^\[ *[0-9]+\.[0-9]s\] [a-z]+ +\$[0-9.]+/h, bound \$[0-9.]+/h, gap [0-9.]+%' "$tmp/err"
check "about one progress line a second" \
  python3 -c "import re,sys; t=[float(m) for m in re.findall(r'^\[ *([0-9.]+)s\]', open(sys.argv[1]).read(), re.M)]; assert len(t) >= 3 and all(0.9 <= b - a <= 1.5 for a, b in zip(t, t[1:])), t" "$tmp/err"
check "stderr says the best plan so far is kept" grep -q 'interrupted' "$tmp/err"
check "the plan file is written and places all 160 items in at most 63 bins" \
  python3 -c "import json,sys; p=json.load(open(sys.argv[1])); assert len(p['placements'])==160 and not p['unplaced'] and p['cost_per_hour'] <= 63 and p['lower_bound_per_hour'] <= 62, p['cost_per_hour']" "$tmp/plan.json"
check "the summary line names the plan file" grep -q "plan: 160 placements" "$tmp/out"

# Without --progress and with stderr not a terminal, a solve prints nothing on stderr.
"$vp" plan "$src/examples/small.json" --time-limit 1 --out "$tmp/p2.json" >/dev/null 2>"$tmp/err2"
check "no progress on stderr when it is not a terminal" test ! -s "$tmp/err2"

[ $fails -eq 0 ] && echo "all sigint checks passed"
exit $((fails > 0))
