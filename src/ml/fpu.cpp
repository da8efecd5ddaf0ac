#include "starling/ml/fpu.h"

#include <Eigen/Core>

#include <cstdint>
#include <cstring>

#if defined(__SSE__)
#include <pmmintrin.h>
#include <xmmintrin.h>
#endif

namespace starling::ml {
bool all_finite(const float* values, std::size_t count) {
  std::uint32_t any = 0;
  for (std::size_t i = 0; i < count; ++i) any |= non_finite(values[i]);
  return any == 0;
}

bool copy_all_finite(const float* from, float* to, std::size_t count) {
  std::uint32_t any = 0;
  for (std::size_t i = 0; i < count; ++i) {
    to[i] = from[i];
    any |= non_finite(from[i]);
  }
  return any == 0;
}

void enable_flush_to_zero() {
#if defined(__SSE__)
  _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
  _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
#endif
}

Status set_math_threads(int threads) {
  if (threads < 1) return make_error(ErrorKind::invalid_argument, "--threads must be at least 1");
#if defined(EIGEN_USE_BLAS)
  if (threads != 1) {
    return make_error(ErrorKind::invalid_argument,
                      "--threads " + std::to_string(threads) +
                          " needs a build with -DSTARLING_OPENBLAS=OFF: this build runs matrix products in "
                          "single-threaded OpenBLAS (faster per core; run one peer per core instead)");
  }
#endif
  Eigen::setNbThreads(threads);
  return ok_status();
}

}  // namespace starling::ml
