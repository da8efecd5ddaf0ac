// Fixture for tests/layers/guard_test.sh: lines 3, 4 and 5 are hits.
#pragma once
#include <sodium.h>
#include <time.h>
#  include <sys/time.h>
