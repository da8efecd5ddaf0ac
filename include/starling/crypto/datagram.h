// Sealed UDP datagrams for membership traffic. There is no session on UDP:
// every member derives the same datagram key from the swarm key (crypto_kdf),
// and each datagram is XChaCha20-Poly1305-sealed under a fresh random nonce.
// The sender, a timestamp and a counter travel in the clear but authenticated;
// the opener rejects datagrams outside a freshness window around the caller's
// clock and datagrams it has already accepted (per-sender replay window, with
// bounded memory). Time always comes in as an argument.
//
// Note: every swarm member holds the datagram key, so `sender` is only as
// trustworthy as the swarm's members; outsiders can neither read, forge nor
// successfully replay a datagram.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "starling/crypto/keys.h"
#include "starling/crypto/secret.h"
#include "starling/status.h"

namespace starling::crypto {

inline constexpr std::size_t kDatagramNonceBytes = 24;
inline constexpr std::size_t kDatagramTagBytes = 16;

// A sealed datagram as plain fields; src/wire encodes it.
struct SealedDatagram {
  std::array<std::uint8_t, kDatagramNonceBytes> nonce{};
  NodeId sender;
  std::uint64_t timestamp_ms = 0;  // sender's clock when sealed
  // Strictly increasing per sender, also across restarts: the sealer never
  // issues a counter below timestamp_ms * 2^16.
  std::uint64_t counter = 0;
  std::vector<std::uint8_t> ciphertext;  // payload followed by the 16-byte tag
};

class DatagramSealer {
 public:
  DatagramSealer(const SwarmKey& swarm_key, const NodeId& sender);

  SealedDatagram seal(std::span<const std::uint8_t> payload, std::uint64_t now_ms);

 private:
  SymmetricKey key_;
  NodeId sender_;
  std::uint64_t last_counter_ = 0;
};

struct DatagramLimits {
  std::uint64_t freshness_window_ms = 30'000;  // accept |now - timestamp| <= this
  std::size_t max_senders = 4096;              // replay state kept for at most this many senders
  std::size_t replay_window = 128;             // recent counters remembered per sender
};

class DatagramOpener {
 public:
  explicit DatagramOpener(const SwarmKey& swarm_key, DatagramLimits limits = {});

  // Returns the payload. Errors (the datagram is dropped, nothing else changes):
  // security for a stale or future timestamp, a replay, a counter too old for
  // the window, or a datagram that fails authentication; corrupt for one too
  // short to hold a tag.
  Result<std::vector<std::uint8_t>> open(const SealedDatagram& datagram, std::uint64_t now_ms);

  std::size_t tracked_senders() const { return windows_.size(); }

 private:
  struct ReplayWindow {
    std::uint64_t floor = 0;             // counters <= floor are rejected
    std::vector<std::uint64_t> recent;   // accepted counters > floor
    std::uint64_t last_seen_ms = 0;      // receiver clock, for expiry
  };
  bool seen_before(const NodeId& sender, std::uint64_t counter) const;
  void remember(const NodeId& sender, std::uint64_t counter, std::uint64_t now_ms);
  void make_room(std::uint64_t now_ms);

  SymmetricKey key_;
  DatagramLimits limits_;
  std::unordered_map<NodeId, ReplayWindow> windows_;
};

}  // namespace starling::crypto
