# The libFuzzer harnesses (docs/fuzz.md): included by the top-level
# CMakeLists.txt when CXLFLASH_FUZZ is ON, in a build of its own
# (`make build-fuzz`: clang, build-fuzz/). Every object of the engine, the
# block library and libarkdb is compiled with coverage for the fuzzer and
# with ASan+UBSan (CXLFLASH_SANITIZE is forced to address,undefined);
# each tests/fuzz/fuzz_<name>.c links into one program fuzz_<name>, built
# by the `fuzzers` target. Each is also a CTest test (label fuzz) that
# replays its corpus and fuzzes for CXLFLASH_FUZZ_CI_TIME seconds.
set(CXLFLASH_FUZZ_CI_TIME 30 CACHE STRING "Seconds each fuzz test (ctest -L fuzz) fuzzes")

file(GLOB DAEMON_SOURCES_FOR_FUZZ CONFIGURE_DEPENDS src/daemon/*.c)
file(GLOB FUZZ_SOURCES CONFIGURE_DEPENDS tests/fuzz/fuzz_*.c)
add_custom_target(fuzzers)
enable_testing()
foreach(src ${FUZZ_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_include_directories(${name} PRIVATE src tests/fuzz)
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_libraries(${name} PRIVATE arkdb_static)
  if(name STREQUAL "fuzz_wire" OR name STREQUAL "fuzz_config")
    # cxlflashd's own files: the daemon the wire harness runs in-process,
    # and the config file parser.
    target_sources(${name} PRIVATE ${DAEMON_SOURCES_FOR_FUZZ})
  endif()
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
  add_dependencies(fuzzers ${name})
  string(REGEX REPLACE "^fuzz_" "" short ${name})
  add_test(NAME fuzz/${short} COMMAND ${CMAKE_SOURCE_DIR}/scripts/run-fuzz.sh
    --build ${CMAKE_BINARY_DIR} --time ${CXLFLASH_FUZZ_CI_TIME} ${short})
  set_tests_properties(fuzz/${short} PROPERTIES LABELS fuzz RUN_SERIAL ON
    TIMEOUT 600)
endforeach()
