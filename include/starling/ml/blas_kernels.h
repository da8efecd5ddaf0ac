// Which matrix-product kernels the BLAS library picked for this CPU, and a
// better pick when it fell back to its generic ones.
//
// OpenBLAS built with DYNAMIC_ARCH (Debian's) chooses its kernels once, when
// the library loads, from the CPU model. Debian 12's 0.3.21 does not know
// newer models (a Sapphire Rapids guest that reports "Intel Xeon Processor")
// and falls back to "Prescott", its SSE3 kernels: one epoch of the default
// MLP took 4.40 s there against 1.55 s with OPENBLAS_CORETYPE=SkylakeX.
// The choice can only be changed through that variable before the library
// loads, so `starling` re-executes itself with it (apps/blas_startup.h).
#pragma once

#include <string>
#include <string_view>

namespace starling::ml {

// Vector extensions the CPU has and the OS saves the registers of.
struct CpuFeatures {
  bool avx2_fma = false;  // AVX2 and FMA: OpenBLAS's Haswell kernels
  bool avx512 = false;    // AVX-512 F, CD, BW, DQ and VL: its SkylakeX kernels
};

CpuFeatures cpu_features();

// The kernel set OpenBLAS uses ("SkylakeX", "Haswell", "Prescott", ...);
// empty when the BLAS in this process is not OpenBLAS, or there is none.
std::string blas_kernels();

// The kernel set to ask OpenBLAS for (OPENBLAS_CORETYPE) when it fell back to
// "Prescott" on a CPU that can run better ones; empty when its pick stands.
std::string better_blas_kernels(std::string_view in_use, CpuFeatures cpu);

}  // namespace starling::ml
