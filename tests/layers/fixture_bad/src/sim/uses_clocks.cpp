// Fixture for tests/layers/guard_test.sh: lines 2, 3, 7, 8, 9, 10 and 11 are hits.
#include <chrono>
#include "sodium/crypto_box.h"
#include <cstdlib>

long wall_ms() {
  std::srand(static_cast<unsigned>(time(nullptr)));
  auto now = std::chrono::steady_clock::now();
  struct timeval tv; gettimeofday(&tv, nullptr);
  std::this_thread::yield();
  return rand() + now.time_since_epoch().count();
}
