# bench_solvers: the planner against FFD and CBC on instances with proven optima.
add_executable(bench_solvers ${CMAKE_CURRENT_SOURCE_DIR}/bench_solvers.c)
target_link_libraries(bench_solvers PRIVATE vp_planner vp_flags)
target_compile_definitions(bench_solvers PRIVATE
  VP_BENCH_DATA="${CMAKE_SOURCE_DIR}/../shared/data")
