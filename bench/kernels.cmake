# bench/kernels.cmake - the kernels benchmark. Included from bench/CMakeLists.txt:
#   include(${CMAKE_CURRENT_SOURCE_DIR}/kernels.cmake)
# Builds build/bench/bench_kernels; run it on a GPU machine (see bench/RESULTS.md, "kernels").
# Without a CUDA device it measures the CPU path and says the GPU figures are unmeasured.
add_executable(bench_kernels ${CMAKE_CURRENT_LIST_DIR}/bench_kernels.c)
target_link_libraries(bench_kernels PRIVATE vp_kernels vp_flags)
set_target_properties(bench_kernels PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
