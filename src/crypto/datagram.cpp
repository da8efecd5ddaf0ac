#include "starling/crypto/datagram.h"

#include <algorithm>
#include <cstring>

#include "sodium_support.h"

namespace starling::crypto {
namespace {

static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == kDatagramNonceBytes);
static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == kDatagramTagBytes);
static_assert(crypto_kdf_KEYBYTES == SymmetricKey::kSize);

// crypto_kdf context (exactly 8 characters) and subkey id of the datagram key.
constexpr char kDatagramKdfContext[crypto_kdf_CONTEXTBYTES + 1] = "stlgdgrm";
constexpr std::uint64_t kDatagramSubkeyId = 1;
constexpr std::string_view kAssociatedLabel = "starling/datagram/v1";
// Counters start at timestamp_ms << 16, so a restarted sender continues above
// everything it sent before (65536 datagrams per millisecond of headroom).
constexpr int kCounterTimeShift = 16;
constexpr std::uint64_t kMaxShiftableMs = (std::uint64_t{1} << (64 - kCounterTimeShift)) - 1;

SymmetricKey derive_datagram_key(const SwarmKey& swarm_key) {
  internal::ensure_sodium();
  SymmetricKey key;
  int result = crypto_kdf_derive_from_key(key.data(), key.size(), kDatagramSubkeyId, kDatagramKdfContext,
                                          swarm_key.secret().data());
  STARLING_ASSERT(result == 0);
  return key;
}

using AssociatedData = std::array<std::uint8_t, kAssociatedLabel.size() + NodeId::kSize + 8 + 8>;

AssociatedData associated_data(const NodeId& sender, std::uint64_t timestamp_ms, std::uint64_t counter) {
  AssociatedData data{};
  std::uint8_t* out = data.data();
  std::memcpy(out, kAssociatedLabel.data(), kAssociatedLabel.size());
  out += kAssociatedLabel.size();
  std::memcpy(out, sender.bytes().data(), NodeId::kSize);
  out += NodeId::kSize;
  internal::store_le64(out, timestamp_ms);
  internal::store_le64(out + 8, counter);
  return data;
}

std::uint64_t distance(std::uint64_t a, std::uint64_t b) { return a > b ? a - b : b - a; }

constexpr std::string_view kSignatureLabel = "starling/datagram-signature/v1";

// What the sender signs: a label, then every field a receiver acts on, the
// ciphertext (with its tag) last. Fixed-size fields before the one variable
// one, so the layout is unambiguous.
using SignedHeader = std::array<std::uint8_t, kSignatureLabel.size() + kDatagramNonceBytes + NodeId::kSize + 16>;

std::vector<std::uint8_t> signed_bytes(const SealedDatagram& datagram) {
  SignedHeader header{};
  std::uint8_t* at = header.data();
  std::memcpy(at, kSignatureLabel.data(), kSignatureLabel.size());
  at += kSignatureLabel.size();
  std::memcpy(at, datagram.nonce.data(), kDatagramNonceBytes);
  at += kDatagramNonceBytes;
  std::memcpy(at, datagram.sender.bytes().data(), NodeId::kSize);
  at += NodeId::kSize;
  internal::store_le64(at, datagram.timestamp_ms);
  internal::store_le64(at + 8, datagram.counter);
  std::vector<std::uint8_t> out(header.size() + datagram.ciphertext.size());
  std::copy(header.begin(), header.end(), out.begin());
  std::copy(datagram.ciphertext.begin(), datagram.ciphertext.end(), out.begin() + std::ptrdiff_t(header.size()));
  return out;
}

}  // namespace

// ---- DatagramSealer -----------------------------------------------------------

DatagramSealer::DatagramSealer(const SwarmKey& swarm_key, const Identity& identity)
    : key_(derive_datagram_key(swarm_key)), identity_(identity) {}

SealedDatagram DatagramSealer::seal(std::span<const std::uint8_t> payload, std::uint64_t now_ms) {
  std::uint64_t counter = last_counter_ + 1;
  if (now_ms <= kMaxShiftableMs) counter = std::max(counter, now_ms << kCounterTimeShift);
  STARLING_ASSERT_MSG(counter > last_counter_, "datagram counter wrapped");
  last_counter_ = counter;

  SealedDatagram datagram;
  datagram.sender = identity_.node_id();
  datagram.timestamp_ms = now_ms;
  datagram.counter = counter;
  // Random 192-bit nonces never collide in practice, and need no state shared
  // between a sender's restarts.
  randombytes_buf(datagram.nonce.data(), datagram.nonce.size());
  datagram.ciphertext.resize(payload.size() + kDatagramTagBytes);
  AssociatedData authenticated = associated_data(datagram.sender, now_ms, counter);
  unsigned long long written = 0;
  int result = crypto_aead_xchacha20poly1305_ietf_encrypt(
      datagram.ciphertext.data(), &written, payload.data(), payload.size(), authenticated.data(),
      authenticated.size(), nullptr, datagram.nonce.data(), key_.data());
  STARLING_ASSERT(result == 0 && written == datagram.ciphertext.size());
  datagram.sender_key = identity_.public_key();
  datagram.signature = identity_.sign(signed_bytes(datagram));
  return datagram;
}

// ---- DatagramOpener -----------------------------------------------------------

DatagramOpener::DatagramOpener(const SwarmKey& swarm_key, DatagramLimits limits)
    : key_(derive_datagram_key(swarm_key)), limits_(limits) {
  STARLING_ASSERT(limits_.max_senders > 0 && limits_.replay_window > 0);
}

Result<std::vector<std::uint8_t>> DatagramOpener::open(const SealedDatagram& datagram, std::uint64_t now_ms) {
  if (datagram.ciphertext.size() < kDatagramTagBytes) {
    return make_error(ErrorKind::corrupt, "datagram of " + std::to_string(datagram.ciphertext.size()) +
                                              " bytes is shorter than its authentication tag");
  }
  // Cheap checks first, but nothing unauthenticated changes any state.
  if (distance(now_ms, datagram.timestamp_ms) > limits_.freshness_window_ms) {
    return make_error(ErrorKind::security,
                      std::string("datagram from ") + datagram.sender.short_hex() + " is " +
                          (datagram.timestamp_ms < now_ms ? "stale" : "from the future") + " (" +
                          std::to_string(distance(now_ms, datagram.timestamp_ms)) + " ms off; window " +
                          std::to_string(limits_.freshness_window_ms) + " ms)");
  }
  if (seen_before(datagram.sender, datagram.counter)) {
    return make_error(ErrorKind::security, "datagram " + std::to_string(datagram.counter) + " from " +
                                               datagram.sender.short_hex() +
                                               " is a replay or too old for the replay window");
  }
  std::vector<std::uint8_t> payload(datagram.ciphertext.size() - kDatagramTagBytes);
  AssociatedData authenticated = associated_data(datagram.sender, datagram.timestamp_ms, datagram.counter);
  unsigned long long written = 0;
  int result = crypto_aead_xchacha20poly1305_ietf_decrypt(
      payload.data(), &written, nullptr, datagram.ciphertext.data(), datagram.ciphertext.size(),
      authenticated.data(), authenticated.size(), datagram.nonce.data(), key_.data());
  if (result != 0 || written != payload.size()) {
    return make_error(ErrorKind::security,
                      "datagram failed authentication (different swarm key, or altered in transit)");
  }
  // Only a member gets here (it held the swarm key). Now: is it who it says?
  // The id check is one hash; the signature check (the expensive one) only
  // runs for datagrams that passed every cheaper test.
  if (NodeId::from_public_key(datagram.sender_key) != datagram.sender) {
    return make_error(ErrorKind::security, "datagram claims sender " + datagram.sender.short_hex() +
                                               " but carries another identity's key (a member posing as another)");
  }
  if (!verify_signature(datagram.sender_key, signed_bytes(datagram), datagram.signature)) {
    return make_error(ErrorKind::security,
                      "datagram from " + datagram.sender.short_hex() + " has a bad signature (altered, or forged)");
  }
  remember(datagram.sender, datagram.counter, now_ms);
  return payload;
}

bool DatagramOpener::seen_before(const NodeId& sender, std::uint64_t counter) const {
  auto found = windows_.find(sender);
  if (found == windows_.end()) return false;
  const ReplayWindow& window = found->second;
  if (counter <= window.floor) return true;
  return std::find(window.recent.begin(), window.recent.end(), counter) != window.recent.end();
}

void DatagramOpener::remember(const NodeId& sender, std::uint64_t counter, std::uint64_t now_ms) {
  auto found = windows_.find(sender);
  if (found == windows_.end()) {
    make_room(now_ms);
    found = windows_.emplace(sender, ReplayWindow{}).first;
    found->second.recent.reserve(limits_.replay_window + 1);
  }
  ReplayWindow& window = found->second;
  window.last_seen_ms = now_ms;
  window.recent.push_back(counter);
  if (window.recent.size() > limits_.replay_window) {
    // Forget the lowest counter and raise the floor to it: everything at or
    // below the floor is refused, so forgetting never re-opens a replay.
    auto lowest = std::min_element(window.recent.begin(), window.recent.end());
    window.floor = std::max(window.floor, *lowest);
    window.recent.erase(lowest);
  }
}

void DatagramOpener::make_room(std::uint64_t now_ms) {
  if (windows_.size() < limits_.max_senders) return;
  // A window idle for two freshness windows can go safely: anything it
  // remembers is now stale and refused by the timestamp check.
  std::uint64_t expiry_ms = 2 * limits_.freshness_window_ms;
  std::erase_if(windows_, [&](const auto& entry) { return distance(now_ms, entry.second.last_seen_ms) > expiry_ms; });
  if (windows_.size() < limits_.max_senders) return;
  // Still full of live senders: drop the quietest one (memory stays bounded; see
  // docs/security.md for what that costs).
  auto quietest = std::min_element(windows_.begin(), windows_.end(), [](const auto& a, const auto& b) {
    return a.second.last_seen_ms < b.second.last_seen_ms;
  });
  windows_.erase(quietest);
}

}  // namespace starling::crypto
