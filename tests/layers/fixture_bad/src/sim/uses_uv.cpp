// Fixture for tests/layers/guard_test.sh: must be reported at line 2.
#include <uv.h>

int loop_alive(uv_loop_t* loop) { return uv_loop_alive(loop); }
