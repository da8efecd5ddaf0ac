// Operating errors as values. A function that can fail for reasons outside our
// code (bad input, I/O, a peer) returns Result<T>; the caller decides. See
// docs/errors.md for what each kind means to a caller.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

#include "starling/assert.h"

namespace starling {

enum class ErrorKind {
  invalid_argument,  // the caller's input is wrong; retrying the same call fails again
  not_found,         // a file, data set or peer that should exist does not
  corrupt,           // data failed a format, size or checksum check
  io,                // the operating system refused (permissions, disk full, ...)
  unsupported,       // a valid request we do not implement (e.g. a newer file version)
  disconnected,      // a peer or link went away; recreate the connection
  overloaded,        // a limit was hit (queue, frame size, connections); back off and retry
  timeout,           // nothing answered in time; retry later
  security,          // authentication or integrity failed; drop the peer
  numerical,         // training diverged (NaN/Inf)
};

inline const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::invalid_argument: return "invalid argument";
    case ErrorKind::not_found: return "not found";
    case ErrorKind::corrupt: return "corrupt";
    case ErrorKind::io: return "i/o error";
    case ErrorKind::unsupported: return "unsupported";
    case ErrorKind::disconnected: return "disconnected";
    case ErrorKind::overloaded: return "overloaded";
    case ErrorKind::timeout: return "timeout";
    case ErrorKind::security: return "security";
    case ErrorKind::numerical: return "numerical";
  }
  return "unknown";
}

// Why a connection ended, where the kind alone cannot say: set by the
// transport that saw it happen, so callers decide on it and never on the
// message text (which is for people and may change).
enum class Reason : std::uint8_t {
  none,              // nothing more specific than the kind
  connect_refused,   // the connection never came up: nobody listens there, or no route
  handshake_failed,  // it came up, but the secure handshake failed or the other side hung up during it
  timeout,           // the connect, the handshake or an idle connection ran out of time
  own_identity,      // the secure handshake failed because the other end proved this peer's own identity
  own_address,       // the connection reached this very process: the address dialled is one of its own
  closed_by_peer,    // the other end closed an established connection: an ending, not an error
};

// Both handshake reasons: the connection came up but no secure session did.
inline bool is_handshake_failure(Reason reason) {
  return reason == Reason::handshake_failed || reason == Reason::own_identity || reason == Reason::own_address;
}

inline const char* to_string(Reason reason) {
  switch (reason) {
    case Reason::none: return "none";
    case Reason::connect_refused: return "connect refused";
    case Reason::handshake_failed: return "handshake failed";
    case Reason::timeout: return "timeout";
    case Reason::own_identity: return "own identity";
    case Reason::own_address: return "own address";
    case Reason::closed_by_peer: return "closed by the peer";
  }
  return "unknown";
}

struct Error {
  ErrorKind kind;
  std::string message;
  Reason reason = Reason::none;
};

inline Error make_error(ErrorKind kind, std::string message, Reason reason = Reason::none) {
  return Error{kind, std::move(message), reason};
}

// A value or an Error. Deliberately small: ok(), value(), error(), and
// operator-> for the value. Reading the wrong alternative is a bug and asserts.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Error error) : state_(std::move(error)) {}    // NOLINT: implicit by design

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { STARLING_ASSERT_MSG(ok(), error_message()); return std::get<0>(state_); }
  const T& value() const& { STARLING_ASSERT_MSG(ok(), error_message()); return std::get<0>(state_); }
  T&& value() && { STARLING_ASSERT_MSG(ok(), error_message()); return std::get<0>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { STARLING_ASSERT(!ok()); return std::get<1>(state_); }

 private:
  const char* error_message() const { return ok() ? "" : std::get<1>(state_).message.c_str(); }
  std::variant<T, Error> state_;
};

// Result<void>: success carries nothing.
struct Ok {};
using Status = Result<Ok>;
inline Status ok_status() { return Ok{}; }

}  // namespace starling
