#include "starling/ml/blas_kernels.h"

#include <catch2/catch.hpp>

using starling::ml::better_blas_kernels;
using starling::ml::CpuFeatures;

TEST_CASE("blas kernels: a Prescott fallback on a CPU with AVX-512 or AVX2 gets better kernels", "[ml][blas]") {
  const CpuFeatures avx512{true, true};
  const CpuFeatures avx2{true, false};
  const CpuFeatures old{};
  CHECK(better_blas_kernels("Prescott", avx512) == "SkylakeX");
  CHECK(better_blas_kernels("prescott", avx512) == "SkylakeX");
  CHECK(better_blas_kernels("Prescott", avx2) == "Haswell");
  CHECK(better_blas_kernels("Prescott", old).empty());  // nothing better to run
}

TEST_CASE("blas kernels: a pick OpenBLAS made for the CPU stands", "[ml][blas]") {
  const CpuFeatures avx512{true, true};
  CHECK(better_blas_kernels("SkylakeX", avx512).empty());
  CHECK(better_blas_kernels("Haswell", avx512).empty());  // e.g. a Zen: OpenBLAS knows best
  CHECK(better_blas_kernels("Cooperlake", avx512).empty());
  CHECK(better_blas_kernels("", avx512).empty());  // not OpenBLAS
  CHECK(better_blas_kernels("Prescotty", avx512).empty());
}

#if defined(EIGEN_USE_BLAS)
TEST_CASE("blas kernels: the OpenBLAS this build links names its kernels", "[ml][blas]") {
  CHECK_FALSE(starling::ml::blas_kernels().empty());
}
#endif
