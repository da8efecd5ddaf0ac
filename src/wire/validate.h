// Limits on plain messages, checked on both sides of the wire: before
// encoding (so we never send what a peer would reject) and after decoding.
#pragma once

#include <optional>
#include <string>

#include "starling/wire/codec.h"
#include "starling/wire/messages.h"

namespace starling::wire::detail {

struct Violation {
  bool over_limit;   // a count above a configured limit (vs. a value no peer may send)
  std::string what;
};

std::optional<Violation> validate(const Message& message, const Limits& limits);

// Shared by the decoder, which checks counts before it allocates.
std::optional<Violation> check_count(std::size_t count, std::size_t limit, const char* field);

}  // namespace starling::wire::detail
