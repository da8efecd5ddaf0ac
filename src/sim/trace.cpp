#include "starling/sim/trace.h"

#include <cstdio>

namespace starling::sim {

// Each record starts with a text header that carries its own lengths, so two
// different traces can never feed the hasher the same byte stream.
void TraceHash::text(std::string_view piece) {
  hasher_.update(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(piece.data()), piece.size()));
}

void TraceHash::message(std::string_view from, std::string_view to, std::uint64_t at_us,
                        std::span<const std::uint8_t> bytes, bool datagram) {
  ++messages_;
  message_bytes_ += bytes.size();
  char header[96];
  const int n = std::snprintf(header, sizeof header, "%c %zu %zu %llu %zu\n", datagram ? 'd' : 'f', from.size(),
                              to.size(), static_cast<unsigned long long>(at_us), bytes.size());
  text(std::string_view(header, static_cast<std::size_t>(n)));
  text(from);
  text(to);
  hasher_.update(bytes);
}

void TraceHash::peer_event(std::string_view what, int peer, std::uint64_t at_us) {
  ++events_;
  char header[96];
  const int n = std::snprintf(header, sizeof header, "e %zu %d %llu\n", what.size(), peer,
                              static_cast<unsigned long long>(at_us));
  text(std::string_view(header, static_cast<std::size_t>(n)));
  text(what);
}

std::string TraceHash::finish_hex() {
  const crypto::Hash256 hash = hasher_.finish();
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (std::uint8_t byte : hash) {
    out.push_back(digits[byte >> 4]);
    out.push_back(digits[byte & 15]);
  }
  return out;
}

}  // namespace starling::sim
