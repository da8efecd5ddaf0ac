# Every third-party library comes from Debian's packages (scripts/install-deps.sh).
find_package(PkgConfig REQUIRED)
find_package(Eigen3 3.3 REQUIRED NO_MODULE)
find_package(ZLIB REQUIRED)
find_package(CapnProto REQUIRED)
find_package(CLI11 REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(spdlog REQUIRED)
find_package(tomlplusplus REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenMP REQUIRED)  # Eigen's GEMM uses it for --threads > 1
# libonnx-dev: the ONNX protobuf messages for `starling export`; libprotobuf-dev
# (3.21 on Debian 12, the version libonnx-dev's headers were generated with).
find_package(ONNX QUIET)
find_package(Protobuf QUIET)
if(NOT ONNX_FOUND OR NOT TARGET onnx_proto OR NOT Protobuf_FOUND)
  message(FATAL_ERROR "libonnx-dev or libprotobuf-dev is missing (run scripts/install-deps.sh)")
endif()
pkg_check_modules(UV REQUIRED IMPORTED_TARGET libuv)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
# cpp-httplib (Debian builds it as a shared library): the metrics endpoint, runtime only.
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
if(STARLING_TESTS)
  find_package(Catch2 2 REQUIRED)
  include(Catch)
endif()
if(STARLING_BENCH)
  find_package(benchmark REQUIRED)
endif()

# OpenBLAS, serial build: Eigen calls it for GEMMs (EIGEN_USE_BLAS) and it never
# starts threads of its own, so each training thread stays on its core.
if(STARLING_OPENBLAS)
  find_library(OPENBLAS_SERIAL openblas PATHS /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-serial NO_DEFAULT_PATH)
  if(NOT OPENBLAS_SERIAL)
    message(FATAL_ERROR "STARLING_OPENBLAS is on but libopenblas-serial-dev is missing (run scripts/install-deps.sh, or -DSTARLING_OPENBLAS=OFF)")
  endif()
  add_library(starling_blas INTERFACE)
  target_link_libraries(starling_blas INTERFACE ${OPENBLAS_SERIAL})
  target_compile_definitions(starling_blas INTERFACE EIGEN_USE_BLAS)
else()
  add_library(starling_blas INTERFACE)
endif()
