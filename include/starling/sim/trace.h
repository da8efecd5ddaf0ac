// The simulator's event trace, hashed as the run goes (BLAKE2b-256 through
// the crypto layer): every message the network delivers (from, to, virtual
// time, bytes) and every peer event (start, crash, pause, membership events,
// ...). Two runs with the same seed and binary give the same hash; any
// difference in what happened, or when, changes it. Nothing is stored.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "starling/crypto/hash.h"

namespace starling::sim {

class TraceHash {
 public:
  void message(std::string_view from, std::string_view to, std::uint64_t at_us, std::span<const std::uint8_t> bytes,
               bool datagram);
  // `what` names the event ("crash", "member_dead 3f2a..."); peer is its index.
  void peer_event(std::string_view what, int peer, std::uint64_t at_us);

  // Hex of the hash; call once, at the end.
  std::string finish_hex();

  std::uint64_t messages() const { return messages_; }
  std::uint64_t message_bytes() const { return message_bytes_; }
  std::uint64_t events() const { return events_; }

 private:
  void text(std::string_view piece);

  crypto::Hasher hasher_;
  std::uint64_t messages_ = 0;
  std::uint64_t message_bytes_ = 0;
  std::uint64_t events_ = 0;
};

}  // namespace starling::sim
