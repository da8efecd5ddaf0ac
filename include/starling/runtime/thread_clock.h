// The CPU time the calling thread has used, for the CPU rule of round pacing
// (node/round_pacing.h): the loop thread reads it at the start and the end of
// each delta round, so a round's cost excludes time the thread spent waiting
// for a core on a loaded machine.
#pragma once

#include <cstdint>

namespace starling::runtime {

// User plus system CPU time of the calling thread, µs since an arbitrary
// origin; 0 where the platform has no per-thread clock (the CPU rule is then off).
std::uint64_t thread_cpu_time_us();

}  // namespace starling::runtime
