#include "starling/ml/blas_kernels.h"

#include <dlfcn.h>
#include <strings.h>

namespace starling::ml {

CpuFeatures cpu_features() {
  CpuFeatures cpu;
#if defined(__x86_64__) || defined(__i386__)
  // libgcc's checks include the OS's XCR0 bits, so a feature counts only when
  // its registers are saved across context switches.
  __builtin_cpu_init();
  cpu.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  cpu.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vl");
#endif
  return cpu;
}

std::string blas_kernels() {
  // Looked up rather than linked: builds without OpenBLAS (STARLING_OPENBLAS
  // off, or another BLAS behind the library) have no such function.
  using CoreName = char* (*)();
  auto core_name = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (core_name == nullptr) return {};
  const char* name = core_name();
  return name != nullptr ? std::string(name) : std::string();
}

std::string better_blas_kernels(std::string_view in_use, CpuFeatures cpu) {
  // OpenBLAS names its fallback "Prescott" (lower case in some releases).
  if (in_use.size() != 8 || strncasecmp(in_use.data(), "prescott", 8) != 0) return {};
  if (cpu.avx512) return "SkylakeX";
  if (cpu.avx2_fma) return "Haswell";
  return {};
}

}  // namespace starling::ml
