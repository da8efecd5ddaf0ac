// Per-thread and per-process math settings for training.
#pragma once

#include "starling/status.h"

namespace starling::ml {

// Flush-to-zero and denormals-are-zero for the calling thread. Dead ReLU units
// let momentum decay into subnormal floats, and a step then runs 3-5x slower;
// every training thread calls this once before its first step.
void enable_flush_to_zero();

// Threads for one replica's matrix products. Builds that route products to
// the serial OpenBLAS (the default, STARLING_OPENBLAS) run them on one thread,
// so asking for more is an error there rather than a silently ignored flag.
Status set_math_threads(int threads);

}  // namespace starling::ml
