# bench_solvers: the planner against FFD and CBC (on an arc-flow model it writes itself) on
# generated families with known optima, Hard28, variable-cost sets and the built-in catalog.
add_executable(bench_solvers ${CMAKE_CURRENT_SOURCE_DIR}/bench_solvers.c
                             ${CMAKE_CURRENT_SOURCE_DIR}/arcflow.c)
target_link_libraries(bench_solvers PRIVATE vp_planner vp_flags)
target_compile_definitions(bench_solvers PRIVATE
  VP_BENCH_DATA="${CMAKE_SOURCE_DIR}/../shared/data")
