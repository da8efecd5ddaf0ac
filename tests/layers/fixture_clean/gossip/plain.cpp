// Fixture for tests/layers/guard_test.sh: an ordinary sans-I/O file.
#include <cstdint>
std::int64_t next_deadline_ms(std::int64_t now_ms, std::int64_t period_ms) { return now_ms + period_ms; }
