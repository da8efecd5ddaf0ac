// Fixture for tests/layers/guard_test.sh: line 3 is a hit.
#pragma once
#include <future>
