// Sealed UDP datagrams for membership traffic. There is no session on UDP:
// every member derives the same datagram key from the swarm key (crypto_kdf),
// and each datagram is XChaCha20-Poly1305-sealed under a fresh random nonce.
// The sender, a timestamp and a counter travel in the clear but authenticated;
// the opener rejects datagrams outside a freshness window around the caller's
// clock and datagrams it has already accepted (per-sender replay window, with
// bounded memory). Time always comes in as an argument.
//
// Every member holds the datagram key, so the AEAD alone would let any member
// write another member's node id into `sender`. Each datagram is therefore
// also signed with the sender's Ed25519 identity: it carries the public key
// and a signature over nonce, sender, timestamp, counter and ciphertext, and
// the opener accepts it only if `sender` is the BLAKE2b hash of that key (how
// a node id is defined) and the signature verifies. A member can only speak
// for itself; outsiders can neither read, forge nor successfully replay a
// datagram. docs/security.md has the cost.
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
  PublicKey sender_key{};   // the sender's identity key; sender == NodeId::from_public_key(sender_key)
  Signature signature{};    // sender_key's signature over all of the above (see datagram.cpp)
};

class DatagramSealer {
 public:
  // Seals and signs as `identity`, which must outlive the sealer.
  DatagramSealer(const SwarmKey& swarm_key, const Identity& identity);

  SealedDatagram seal(std::span<const std::uint8_t> payload, std::uint64_t now_ms);

 private:
  SymmetricKey key_;
  const Identity& identity_;
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

  // Returns the payload; datagram.sender is then proven (the sender signed
  // it). Errors (the datagram is dropped, nothing else changes): security for
  // a stale or future timestamp, a replay, a counter too old for the window, a
  // datagram that fails authentication, a sender id that is not the hash of
  // the carried key, or a signature that does not verify; corrupt for one too
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
