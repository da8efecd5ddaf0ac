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

void report_out_of_memory(const char* where) noexcept {
  std::fprintf(stderr,
               "starling: error: out of memory in %s. The peer keeps running; the connection it concerned, if any, "
               "is dropped. Free memory on this host, raise its memory limit (ulimit -v, the container's limit) or "
               "run fewer peers on it.\n",
               where);
  std::fflush(stderr);
}

const char* escaped_drop_reason(Escaped escaped) noexcept {
  return escaped == Escaped::out_of_memory ? "dropped: out of memory while handling it"
                                           : "dropped after an internal error (an exception escaped a handler; a bug)";
}

}  // namespace starling::runtime
