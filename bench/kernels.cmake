# bench/kernels.cmake - the kernels benchmark. Included from bench/CMakeLists.txt:
#   include(${CMAKE_CURRENT_SOURCE_DIR}/kernels.cmake)
# Builds build/bench/bench_kernels; on a GPU machine run bench/kernels_gpu.sh (see
# bench/RESULTS.md, "kernels"). Without a CUDA device the default backend measures the CPU and
# says so; --backend cuda then fails with the reason.
add_executable(bench_kernels ${CMAKE_CURRENT_LIST_DIR}/bench_kernels.c
  ${CMAKE_CURRENT_LIST_DIR}/bench_kernels_stages.c ${CMAKE_CURRENT_LIST_DIR}/bench_kernels_model.c
  ${CMAKE_CURRENT_LIST_DIR}/bench_kernels_worker.c)
target_link_libraries(bench_kernels PRIVATE vp_kernels vp_flags m)
set_target_properties(bench_kernels PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
add_dependencies(bench_kernels vrampack-worker)
# The benchmark's own logic on the CPU: the table, every check, the exit status, a stage that
# crashes, a NaN that must fail, and --backend cuda failing fast without a device.
if(BUILD_TESTING OR NOT DEFINED BUILD_TESTING)
  add_test(NAME bench_kernels_checks
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/../tests/kernels/bench_checks.sh
            $<TARGET_FILE:bench_kernels>)
  set_tests_properties(bench_kernels_checks PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77)
endif()
