// Fixture for tests/layers/guard_test.sh: a virtual clock is fine.
#pragma once
#include <cstdint>
struct VirtualClock { std::int64_t now_ms = 0; std::int64_t time(std::int64_t advance_ms) { return now_ms += advance_ms; } };
