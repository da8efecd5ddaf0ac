// The one guard where libuv (or the memory network) calls into our code. No
// exception may cross a libuv callback: libuv is C, an exception unwinding
// through it leaves the loop in an undefined state, and one that reaches the
// top of a thread terminates the process. Operating errors are values here, so
// an exception that escapes is a bug: guarded() reports it with a request for
// a bug report and tells the caller, which drops the connection the callback
// was about (if any). A peer loses a connection, never its process.
// Private to src/runtime.
#pragma once

#include <exception>

namespace starling::runtime {

// Writes one line to stderr naming where and what, asking for a bug report.
// Never throws.
void report_escaped_exception(const char* where, const char* what) noexcept;

// Runs fn(). Returns false if an exception escaped it (after reporting it).
template <typename Fn>
bool guarded(const char* where, Fn&& fn) noexcept {
  try {
    fn();
    return true;
  } catch (const std::exception& error) {
    report_escaped_exception(where, error.what());
  } catch (...) {
    report_escaped_exception(where, "an exception of unknown type");
  }
  return false;
}

}  // namespace starling::runtime
