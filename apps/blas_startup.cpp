#include "blas_startup.h"

#include <unistd.h>

#include <cstdlib>

#include "starling/ml/blas_kernels.h"

namespace starling::apps {

namespace {
constexpr const char* kCoreVariable = "OPENBLAS_CORETYPE";
constexpr const char* kFallbackVariable = "STARLING_BLAS_FALLBACK";
}  // namespace

void use_better_blas_kernels(char** argv) {
  // Set: the user's choice, or ours after the re-exec (so it runs once).
  if (std::getenv(kCoreVariable) != nullptr) return;
  const std::string in_use = ml::blas_kernels();
  const std::string better = ml::better_blas_kernels(in_use, ml::cpu_features());
  if (better.empty()) return;
  if (setenv(kCoreVariable, better.c_str(), 1) != 0 || setenv(kFallbackVariable, in_use.c_str(), 1) != 0) return;
  execv("/proc/self/exe", argv);
  // No /proc (or no exec): run on the slow kernels rather than not at all, and
  // do not claim a choice this process did not get.
  unsetenv(kCoreVariable);
  unsetenv(kFallbackVariable);
}

std::string blas_kernels_note() {
  // Fixed for the life of the process (OpenBLAS chose when it loaded), and
  // status asks for it on every poll: worked out once.
  static const std::string note = [] {
    std::string text = ml::blas_kernels();
    const char* fallback = std::getenv(kFallbackVariable);
    if (!text.empty() && fallback != nullptr && *fallback != '\0') {
      text += " (OpenBLAS picked " + std::string(fallback) + ")";
    }
    return text;
  }();
  return note;
}

}  // namespace starling::apps
