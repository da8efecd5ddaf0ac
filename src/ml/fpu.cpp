#include "starling/ml/fpu.h"

#if defined(__SSE__)
#include <xmmintrin.h>
#include <pmmintrin.h>
#endif

namespace starling::ml {
void enable_flush_to_zero() {
#if defined(__SSE__)
  _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
  _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
#endif
}
}  // namespace starling::ml
