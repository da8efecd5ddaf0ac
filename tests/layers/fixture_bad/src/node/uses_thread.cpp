// Fixture for tests/layers/guard_test.sh: must be reported at line 4 only.
// std::this_thread::yield() or rand() here is a comment: not a hit.
#include <vector>
#include <thread>

void spin() { std::thread([] {}).join(); }
