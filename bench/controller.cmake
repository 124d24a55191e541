# bench_controller: one `vrampack controller` child against 1,000 simulated agents on loopback.
add_executable(bench_controller ${CMAKE_CURRENT_SOURCE_DIR}/bench_controller.c)
target_include_directories(bench_controller PRIVATE ${CMAKE_SOURCE_DIR}/cli)
target_link_libraries(bench_controller PRIVATE vp_proto vp_json vp_http_client PkgConfig::LIBUV
                      Threads::Threads vp_flags)
target_compile_definitions(bench_controller PRIVATE VP_BIN_DIR="${CMAKE_BINARY_DIR}")
if(TARGET vrampack)
  add_dependencies(bench_controller vrampack)
endif()
