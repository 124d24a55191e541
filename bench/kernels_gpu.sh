#!/usr/bin/env bash
# The GPU benchmark of the built-in worker in one unattended command, for a fresh GPU machine
# with a CUDA toolkit and a C compiler (CMake optional, none of vrampack's other libraries):
#   bench/kernels_gpu.sh [--build-only] [bench_kernels options: --quick ...]
# 1. pre-flight: the GPUs, the driver and the newest CUDA it supports (nvidia-smi), the toolkit
#    (nvcc); it stops, saying why, when there is no GPU or the driver's CUDA is an older major
#    version than the toolkit's (what cudaGetDeviceCount reports as error 35);
# 2. builds only the kernels, vrampack-worker and bench_kernels for the GPU's own architecture
#    (CMake with -DVP_KERNELS_ONLY=ON, or nvcc and cc straight when CMake is missing), and writes
#    ptxas's register and spill report;
# 3. runs bench_kernels --backend cuda: every stage runs even when one fails, every result is
#    checked against the CPU twin, and one table comes out.
# Everything lands in $KERNELS_BUILD (default build-kernels-gpu/): bench_kernels.md (the table),
# bench_kernels.log (progress), preflight.txt, ptxas.md, build.log.
# Exit status: bench_kernels' (0 all passed, 1 a check failed, 3 a target missed), 4 when the
# pre-flight or the build failed. CUDA_HOME picks the toolkit, CUDA_ARCH (e.g. 90) the target;
# KERNELS_NO_CMAKE=1 takes the nvcc-and-cc path even where CMake exists.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${KERNELS_BUILD:-$root/build-kernels-gpu}
cuda=${CUDA_HOME:-/usr/local/cuda}
nvcc=${NVCC:-$(command -v nvcc || echo "$cuda/bin/nvcc")}
build_only=0
if [ "${1:-}" = "--build-only" ]; then build_only=1; shift; fi
mkdir -p "$out"
say() { echo "kernels_gpu: $*" | tee -a "$out/preflight.txt" >&2; }
stop() { say "$*"; exit 4; }
: > "$out/preflight.txt"

# ---- 1. pre-flight
[ -x "$nvcc" ] || command -v "$nvcc" > /dev/null || stop "no nvcc (set CUDA_HOME or NVCC)"
toolkit=$("$nvcc" --version | sed -n 's/.*release \([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p')
say "toolkit: CUDA $toolkit ($nvcc)"
arch=${CUDA_ARCH:-}
if command -v nvidia-smi > /dev/null && nvidia-smi -L > /dev/null 2>&1; then
  driver_cuda=$(nvidia-smi | sed -n 's/.*CUDA Version: *\([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' | head -1)
  say "driver: $(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1), supports CUDA ${driver_cuda:-?}"
  nvidia-smi --query-gpu=index,name,memory.total,memory.used,compute_cap --format=csv,noheader |
    while read -r line; do say "gpu: $line"; done
  if [ -n "$driver_cuda" ]; then
    dmaj=${driver_cuda%%.*} dmin=${driver_cuda#*.} tmaj=${toolkit%%.*} tmin=${toolkit#*.}
    if [ "$dmaj" -lt "$tmaj" ]; then
      stop "the driver supports CUDA $driver_cuda, older than the toolkit's CUDA $toolkit:" \
           "its binaries cannot run here (error 35). Point CUDA_HOME at a CUDA $dmaj.x toolkit" \
           "or install a newer driver."
    elif [ "$dmaj" -eq "$tmaj" ] && [ "$dmin" -lt "$tmin" ]; then
      say "note: driver CUDA $driver_cuda < toolkit $toolkit: runs by minor-version" \
          "compatibility (the build carries machine code for the GPU, no JIT needed)"
    fi
  fi
  [ -n "$arch" ] || arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '.')
elif [ "$build_only" -eq 0 ]; then
  stop "no GPU: nvidia-smi is missing or lists no device"
fi
arch=${arch:-90}
say "building for sm_$arch"

# ---- 2. build the kernels alone
bin=$out/bin
if [ -z "${KERNELS_NO_CMAKE:-}" ] && command -v cmake > /dev/null; then
  { cmake -S "$root" -B "$out/cmake" -DVP_KERNELS_ONLY=ON -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_CUDA_COMPILER="$nvcc" -DCMAKE_CUDA_ARCHITECTURES="$arch" &&
    cmake --build "$out/cmake" -j"$(nproc)" --target bench_kernels vrampack-worker; } \
    > "$out/build.log" 2>&1 || stop "build failed: see $out/build.log"
  grep -q "CUDA kernels ON" "$out/build.log" || stop "CMake did not enable CUDA: see $out/build.log"
  bench=$out/cmake/bench/bench_kernels
  worker=$out/cmake/vrampack-worker
else
  mkdir -p "$bin"
  inc=(-I"$root/kernels" -I"$root/common")
  defs=(-D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DVP_KERN_CUDA=1)
  libs=(-L"$cuda/lib64" -L"$cuda/targets/x86_64-linux/lib" -lcudart_static -lrt -ldl -lpthread
        -lstdc++ -lm)
  cflags=(-std=c11 -O2 -Wall -Wextra -Werror -Wno-unused-parameter)
  srcs=("$root/kernels/kern_slice.c" "$root/kernels/kern_layout.c" "$root/kernels/kern_model.c"
        "$root/common/vp.c")
  {
    "$nvcc" -O3 -arch="sm_$arch" -lineinfo "${inc[@]}" -c "$root/kernels/kern_cuda.cu" \
      -o "$bin/kern_cuda.o" &&
    "$nvcc" -O3 -arch="sm_$arch" -lineinfo "${inc[@]}" -c "$root/kernels/kern_cuda_attn.cu" \
      -o "$bin/kern_cuda_attn.o" &&
    cc "${cflags[@]}" -O3 "${defs[@]}" "${inc[@]}" -c "$root/kernels/kern_cpu.c" -o "$bin/kern_cpu.o" &&
    cc "${cflags[@]}" "${defs[@]}" "${inc[@]}" "$root/kernels/worker_main.c" "${srcs[@]}" \
      "$bin/kern_cpu.o" "$bin/kern_cuda.o" "$bin/kern_cuda_attn.o" "${libs[@]}" \
      -o "$bin/vrampack-worker" &&
    cc "${cflags[@]}" "${defs[@]}" "${inc[@]}" "$root"/bench/bench_kernels*.c "${srcs[@]}" \
      "$bin/kern_cpu.o" "$bin/kern_cuda.o" "$bin/kern_cuda_attn.o" "${libs[@]}" \
      -o "$bin/bench_kernels"
  } > "$out/build.log" 2>&1 || stop "build failed: see $out/build.log"
  bench=$bin/bench_kernels
  worker=$bin/vrampack-worker
fi
"$root/bench/kernels_ptxas.sh" 80 90 > "$out/ptxas.md" 2>> "$out/build.log" ||
  say "note: the ptxas report failed (see build.log); the benchmark runs anyway"
say "built $bench"
[ "$build_only" -eq 1 ] && exit 0

# ---- 3. the benchmark, every stage, one table
"$bench" --backend cuda --worker "$worker" "$@" > "$out/bench_kernels.md" 2> "$out/bench_kernels.log"
rc=$?
cat "$out/bench_kernels.md"
say "bench_kernels exit $rc (0 all passed, 1 a check failed, 3 a target missed); table in" \
    "$out/bench_kernels.md, progress in $out/bench_kernels.log"
exit $rc
