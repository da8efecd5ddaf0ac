// The one guard where libuv (or the memory network) calls into our code. No
// exception may cross a libuv callback: libuv is C, an exception unwinding
// through it leaves the loop in an undefined state, and one that reaches the
// top of a thread terminates the process. Operating errors are values here, so
// an exception that escapes is a bug: guarded() reports it with a request for
// a bug report and tells the caller, which drops the connection the callback
// was about (if any). A peer loses a connection, never its process. The one
// exception that is not a bug is std::bad_alloc: the host ran out of memory
// (or hit a ulimit), which is reported as that, with what to do about it.
// Private to src/runtime.
#pragma once

#include <exception>
#include <new>
#include <utility>

namespace starling::runtime {

// Writes one line to stderr naming where and what, asking for a bug report.
// Never throws.
void report_escaped_exception(const char* where, const char* what) noexcept;

// Writes one line to stderr saying that the host ran out of memory in
// `where`. Never throws, allocates nothing.
void report_out_of_memory(const char* where) noexcept;

enum class Escaped { nothing, out_of_memory, bug };

// Runs fn(). Says what escaped it, if anything (after reporting it).
template <typename Fn>
Escaped run_guarded(const char* where, Fn&& fn) noexcept {
  try {
    fn();
    return Escaped::nothing;
  } catch (const std::bad_alloc&) {
    report_out_of_memory(where);
    return Escaped::out_of_memory;
  } catch (const std::exception& error) {
    report_escaped_exception(where, error.what());
  } catch (...) {
    report_escaped_exception(where, "an exception of unknown type");
  }
  return Escaped::bug;
}

// Runs fn(). Returns false if an exception escaped it (after reporting it).
template <typename Fn>
bool guarded(const char* where, Fn&& fn) noexcept {
  return run_guarded(where, std::forward<Fn>(fn)) == Escaped::nothing;
}

// Why a connection whose handler threw is dropped, for its disconnect event.
const char* escaped_drop_reason(Escaped escaped) noexcept;

}  // namespace starling::runtime
