// Fixture for tests/layers/guard_test.sh: must be reported at line 5.
#include <random>

unsigned seed_from_the_os() {
  std::random_device device;
  return device();
}
