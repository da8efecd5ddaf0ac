// Start-up: give OpenBLAS the kernels this CPU can run when it fell back to
// its generic ones (ml/blas_kernels.h says why).
#pragma once

#include <string>

namespace starling::apps {

// When OpenBLAS fell back to "Prescott" on a CPU with AVX2 or AVX-512 and the
// user set no OPENBLAS_CORETYPE, re-executes this program (same arguments,
// same pid) with OPENBLAS_CORETYPE set to the better kernels, and
// STARLING_BLAS_FALLBACK naming the fallback. Returns only when it did not
// re-execute. Call first in main(), before any thread or file is opened.
void use_better_blas_kernels(char** argv);

// "SkylakeX", or "SkylakeX (OpenBLAS picked Prescott)" after the re-exec;
// empty without OpenBLAS. For the summaries and status a user reads.
std::string blas_kernels_note();

}  // namespace starling::apps
