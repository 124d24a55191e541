#!/usr/bin/env bash
# The GPU benchmark of the built-in worker's kernels in one command, on a machine with a CUDA GPU:
#   bench/kernels_gpu.sh [bench_kernels options: --quick --no-cpu-ref --backend cuda]
# Builds bench_kernels straight from the sources with nvcc and cc (the kernels need only libc and
# the CUDA toolkit, so GPU machines without vrampack's other dependencies can run it), runs the
# CUDA-vs-CPU test first when cmocka is installed, then prints the table for bench/RESULTS.md and
# keeps a copy in the build folder. CUDA_ARCH (default sm_90: H100/H200) picks the target.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${KERNELS_BUILD:-$root/build-kernels-gpu}
arch=${CUDA_ARCH:-sm_90}
cuda=${CUDA_HOME:-/usr/local/cuda}
nvcc=${NVCC:-$(command -v nvcc || echo "$cuda/bin/nvcc")}
mkdir -p "$out"
inc=(-I"$root/kernels" -I"$root/common")
defs=(-D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DVP_KERN_CUDA=1)
libs=(-L"$cuda/lib64" -L"$cuda/targets/x86_64-linux/lib" -lcudart_static -lrt -ldl -lpthread -lstdc++ -lm)
cflags=(-std=c11 -O2 -Wall -Wextra -Werror)

"$nvcc" -O3 -arch="$arch" -lineinfo -Xptxas=-v "${inc[@]}" -c "$root/kernels/kern_cuda.cu" \
  -o "$out/kern_cuda.o" 2> "$out/ptxas.txt"
cc "${cflags[@]}" -O3 "${defs[@]}" "${inc[@]}" -c "$root/kernels/kern_cpu.c" -o "$out/kern_cpu.o"
srcs=("$root/kernels/kern_slice.c" "$root/kernels/kern_layout.c" "$root/kernels/kern_model.c"
      "$root/common/vp.c")
cc "${cflags[@]}" "${defs[@]}" "${inc[@]}" "$root/bench/bench_kernels.c" "${srcs[@]}" \
  "$out/kern_cpu.o" "$out/kern_cuda.o" "${libs[@]}" -o "$out/bench_kernels"

if [ -f /usr/include/cmocka.h ]; then
  cc "${cflags[@]}" "${defs[@]}" "${inc[@]}" "$root/tests/kernels/test_gpu.c" "${srcs[@]}" \
    "$out/kern_cpu.o" "$out/kern_cuda.o" -lcmocka "${libs[@]}" -o "$out/test_gpu"
  "$out/test_gpu" || { rc=$?; [ "$rc" -eq 77 ] || exit "$rc"; }
fi
"$out/bench_kernels" "$@" | tee "$out/bench_kernels.md"
