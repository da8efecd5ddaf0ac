// Fixture for tests/layers/guard_test.sh: no hit here. Names like <thread>,
// std::chrono, std::random_device, time(nullptr) and rand() in comments and
// strings are not uses; neither are identifiers that merely contain them.
#include <random>   // a seeded std::mt19937_64 is what the layers use
#include <vector>
#include "starling/node/timer.h"  /* #include <thread> */

/* A block comment across lines:
#include <chrono>
   std::this_thread::sleep_for(...) */
struct Clockless {
  long uptime(long now_ms) const { return now_ms - started_ms; }
  long runtime(long x) const { return x; }
  int operand(int x) const { return x; }
  long started_ms = 0;
};

long probe(const Clockless& c, std::mt19937_64& random) {
  const char* text = "std::random_device and rand() in a string; time(0)";
  const long big = 1'000'000;
  long elapsed_time = c.uptime(big) + c.runtime(0) + c.operand(1);
  return elapsed_time + static_cast<long>(random() % 7) + (text != nullptr);
}
