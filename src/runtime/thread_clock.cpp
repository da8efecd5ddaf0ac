#include "starling/runtime/thread_clock.h"

#include <time.h>

namespace starling::runtime {

std::uint64_t thread_cpu_time_us() {
#if defined(CLOCK_THREAD_CPUTIME_ID)
  timespec now{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now) != 0) return 0;
  return std::uint64_t(now.tv_sec) * 1'000'000u + std::uint64_t(now.tv_nsec) / 1000u;
#else
  return 0;
#endif
}

}  // namespace starling::runtime
