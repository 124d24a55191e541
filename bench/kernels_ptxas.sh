#!/usr/bin/env bash
# Registers, spills and shared memory of every CUDA kernel, as ptxas reports them, one markdown
# table per architecture. Needs only nvcc (no GPU):
#   bench/kernels_ptxas.sh [ARCH ...]        (default: 80 90)
# The kernel names are demangled to their template arguments: gemv<dtype, batch, rows per warp,
# norm>, attn<GQA group>.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cuda=${CUDA_HOME:-/usr/local/cuda}
nvcc=${NVCC:-$(command -v nvcc || echo "$cuda/bin/nvcc")}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(80 90)
for a in "${archs[@]}"; do
  : > "$tmp/ptxas.txt"
  for src in kern_cuda kern_cuda_attn; do
    "$nvcc" -O3 -arch="sm_$a" -lineinfo -Xptxas=-v -I"$root/kernels" -I"$root/common" \
      -c "$root/kernels/$src.cu" -o "$tmp/$src.o" 2>> "$tmp/ptxas.txt"
  done
  echo "### sm_$a"
  echo
  echo "| kernel | registers | spill stores / loads (bytes) | stack (bytes) | shared (bytes) |"
  echo "|---|---|---|---|---|"
  # plain POSIX tools only (no gawk extensions): one line per kernel, then pretty names
  sed -n -e "s/.*Compiling entry function '\([^']*\)'.*/N \1/p" \
         -e 's/^ *\([0-9]*\) bytes stack frame, \([0-9]*\) bytes spill stores, \([0-9]*\) bytes spill loads/S \1 \2 \3/p' \
         -e 's/.*Used \([0-9]*\) registers.*[^0-9]\([0-9]*\) bytes smem.*/R \1 \2/p' \
         -e 's/.*Used \([0-9]*\) registers.*/R \1 0/p' "$tmp/ptxas.txt" |
  while read -r tag a1 a2 a3; do
    case $tag in
      N) name=$a1 ;;
      S) stack=$a1 spills="$a2 / $a3" ;;
      R) echo "$name|$a1|$spills|$stack|$a2" ;;
    esac
  done |
  sed -e 's/^_Z11gemv_kernelILi0E/gemv<fp16/' -e 's/^_Z11gemv_kernelILi1E/gemv<bf16/' \
      -e 's/^_Z11gemv_kernelILi2E/gemv<int4/' \
      -e 's/^\(gemv<[a-z0-9]*\)Li\([0-9]\)ELi\([0-9]\)ELb1EEv10GemvParams/\1, B=\2, R=\3, norm>/' \
      -e 's/^\(gemv<[a-z0-9]*\)Li\([0-9]\)ELi\([0-9]\)ELb0EEv10GemvParams/\1, B=\2, R=\3>/' \
      -e 's/^_Z11attn_kernelILi\([0-9]\)EEv10AttnParams/attn<G=\1>/' \
      -e 's/^_Z12attn_combine10AttnParams/attn_combine/' \
      -e 's/^_Z12embed_kernel[^|]*/embed/' -e 's/^_Z11fill_kernel[^|]*/fill/' |
  sort | awk -F'|' '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }'

  echo
done
