#include "guard.h"

#include <cstdio>

namespace starling::runtime {

void report_escaped_exception(const char* where, const char* what) noexcept {
  // stdio, not the application's logger: this must work whatever state the
  // code that threw left behind, and allocates nothing.
  std::fprintf(stderr,
               "starling: internal error: an exception escaped %s: %s. The peer keeps running; the connection it "
               "concerned, if any, is dropped. This is a bug: please report it with this line and the log around "
               "it.\n",
               where, what);
  std::fflush(stderr);
}

}  // namespace starling::runtime
