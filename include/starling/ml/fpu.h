// Flush-to-zero and denormals-are-zero for the calling thread. Dead ReLU units
// let momentum decay into subnormal floats, and a step then runs 3-5x slower;
// every training thread calls this once before its first step.
#pragma once

namespace starling::ml {
void enable_flush_to_zero();
}
