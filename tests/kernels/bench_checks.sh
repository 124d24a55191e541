#!/usr/bin/env bash
# bench_checks.sh BENCH_KERNELS - the kernels benchmark's own logic, on the CPU backend:
#   1. a clean run prints one table with every stage and exits 0;
#   2. a NaN in one GEMV result fails its checks (exit 1) while every later stage still reports;
#   3. a stage that crashes is a failed row (exit 1) and the stages after it still run;
#   4. without a GPU, --backend cuda stops at once with the reason and no table (exit 1), and the
#      default backend says on stderr and in the table's title that it measured the CPU instead.
set -u
bench=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAILED: $*"; echo "$passed passed, 1 failed"; exit 1; }
passed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
run() { # name args... -> $tmp/name.out, $tmp/name.err, $tmp/name.rc
  local name=$1; shift
  "$bench" "$@" > "$tmp/$name.out" 2> "$tmp/$name.err"
  echo $? > "$tmp/$name.rc"
}
has() { grep -q -- "$2" "$tmp/$1" || fail "$1 lacks \"$2\": $(head -c 3000 "$tmp/$1")"; }
rc() { [ "$(cat "$tmp/$1.rc")" = "$2" ] || fail "$1 exited $(cat "$tmp/$1.rc"), wanted $2: $(tail -5 "$tmp/$1.err")"; }
stages_all_report() {
  for s in '| copy |' '| gemv | tiny-like layer fp16 b1' '| gemv | tiny-like layer int4 b8' \
           '| attention | GQA 8' '| decode | tiny' '| worker | fp16 b1'; do has "$1.out" "$s"; done
}

run clean --smoke --backend cpu
rc clean 0
stages_all_report clean
has clean.out "failed; targets missed: 0"
grep -q "FAILED\|MISSED" "$tmp/clean.out" && fail "clean run has a failed row"
ok "a clean CPU run reports every stage and exits 0"

run nan --smoke --backend cpu --inject nan
rc nan 1
has nan.out "| gemv | tiny qkv 768x512 fp16 b1 | .* | NaN | FAILED |"
stages_all_report nan
ok "a NaN result fails its check, exit 1, later stages still report"

run crash --smoke --backend cpu --inject crash
rc crash 1
has crash.out "| attention | stage | .* | FAILED | - | the stage's process died of signal 6"
stages_all_report_after_crash() {
  for s in '| decode | tiny' '| worker | fp16 b1'; do has crash.out "$s"; done
}
stages_all_report_after_crash
ok "a crashed stage is a failed row, exit 1, the stages after it still run"

if command -v nvidia-smi > /dev/null && nvidia-smi -L > /dev/null 2>&1; then
  echo "a GPU is present: the no-GPU cases do not apply"
  echo "$passed passed, 0 failed"
  exit 0
fi
start=$(date +%s)
run cuda --backend cuda
rc cuda 1
[ $(( $(date +%s) - start )) -lt 60 ] || fail "--backend cuda took too long to fail"
[ -s "$tmp/cuda.out" ] && fail "--backend cuda printed a table without a device"
has cuda.err "--backend cuda: no usable CUDA device"
[ "$(wc -l < "$tmp/cuda.err")" -le 2 ] || fail "--backend cuda: more than the reason on stderr"
ok "--backend cuda without a device fails fast: $(cat "$tmp/cuda.err")"

run auto --smoke
rc auto 0
has auto.err "measuring the CPU backend instead; the GPU figures are unmeasured"
has auto.out "(cpu backend; fallback: "
ok "the default backend falls back to the CPU only saying so"
echo "$passed passed, 0 failed"
