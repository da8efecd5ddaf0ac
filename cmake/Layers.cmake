# Shared compile settings for every starling target.
add_library(starling_options INTERFACE)
target_compile_options(starling_options INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor)
target_include_directories(starling_options INTERFACE ${PROJECT_SOURCE_DIR}/include)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC 12 reports false positives inside Eigen's AVX-512 intrinsics, Catch2's
  # std::regex and std::string copies (-Wmaybe-uninitialized, -Wrestrict); they
  # drown real warnings, so they are off for GCC only.
  target_compile_options(starling_options INTERFACE -Wno-maybe-uninitialized -Wno-restrict)
endif()
if(STARLING_NATIVE)
  target_compile_options(starling_options INTERFACE -march=native)
endif()
if(STARLING_SANITIZE)
  target_compile_options(starling_options INTERFACE -fsanitize=${STARLING_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(starling_options INTERFACE -fsanitize=${STARLING_SANITIZE})
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # With ASan's instrumentation GCC 12 reports -Wstringop-overflow inside
    # Debian's fmt 9 headers (fmt/core.h, reached through spdlog) after
    # inlining, where system-header suppression no longer applies.
    target_compile_options(starling_options INTERFACE -Wno-stringop-overflow)
  endif()
endif()
if(STARLING_FUZZ)
  # Code under test gets coverage instrumentation; only fuzz executables link the fuzzer.
  # No recovery: clang's UBSan otherwise only prints a finding and carries on,
  # so libFuzzer would neither stop nor save the input.
  # FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION (libFuzzer's convention): checksums
  # that guard files against damage are not enforced, so fuzzers get past them.
  target_compile_options(starling_options INTERFACE -fsanitize=fuzzer-no-link,address,undefined
                         -fno-sanitize-recover=all -fno-omit-frame-pointer
                         -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION)
  target_link_options(starling_options INTERFACE -fsanitize=address,undefined)
endif()
# Release builds keep assertions: STARLING_ASSERT is ours, but plain assert() stays
# on too, because a broken invariant must never pass silently.
string(REPLACE "-DNDEBUG" "" CMAKE_CXX_FLAGS_RELEASE "${CMAKE_CXX_FLAGS_RELEASE}")
string(REPLACE "-O2" "-O3" CMAKE_CXX_FLAGS_RELEASE "${CMAKE_CXX_FLAGS_RELEASE}")


# starling_layer(NAME [DIR dir] [DEPS targets...])
# Builds starling_NAME from every .cpp in src/NAME (or DIR). Each layer owns its
# directory, so adding a file never means editing this list.
function(starling_layer name)
  cmake_parse_arguments(L "" "DIR" "DEPS" ${ARGN})
  if(NOT L_DIR)
    set(L_DIR src/${name})
  endif()
  set(dir ${PROJECT_SOURCE_DIR}/${L_DIR})
  if(EXISTS ${dir}/CMakeLists.txt)
    # A layer with special build steps (code generation) describes itself.
    set(STARLING_LAYER_DEPS ${L_DEPS})
    add_subdirectory(${dir} ${PROJECT_BINARY_DIR}/layers/${name})
    return()
  endif()
  file(GLOB sources CONFIGURE_DEPENDS ${dir}/*.cpp)
  if(NOT sources)
    return()
  endif()
  add_library(starling_${name} STATIC ${sources})
  target_link_libraries(starling_${name} PUBLIC starling_options ${L_DEPS})
  target_include_directories(starling_${name} PRIVATE ${dir})
endfunction()
