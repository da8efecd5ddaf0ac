// Bugs vs operating errors (docs/errors.md): STARLING_ASSERT is for bugs in our
// own code. It stays on in release builds and prints the failing expression and
// location, then aborts. Bad input, vanished peers and corrupt files are never
// asserted: they come back as a starling::Error (status.h).
#pragma once

#include <cstdio>
#include <cstdlib>

namespace starling::detail {
[[noreturn]] inline void assert_failed(const char* expr, const char* file, int line, const char* msg) {
  std::fprintf(stderr, "starling: internal bug: assertion `%s` failed at %s:%d%s%s\n", expr, file, line,
               msg[0] ? ": " : "", msg);
  std::abort();
}
}  // namespace starling::detail

#define STARLING_ASSERT(cond)                                                    \
  do {                                                                           \
    if (!(cond)) [[unlikely]]                                                    \
      ::starling::detail::assert_failed(#cond, __FILE__, __LINE__, "");          \
  } while (0)

#define STARLING_ASSERT_MSG(cond, msg)                                           \
  do {                                                                           \
    if (!(cond)) [[unlikely]]                                                    \
      ::starling::detail::assert_failed(#cond, __FILE__, __LINE__, (msg));       \
  } while (0)
