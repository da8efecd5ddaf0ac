// Long-lived keys: the swarm key every member shares, and each peer's Ed25519
// identity, named by its NodeId. Both can be saved to and loaded from key files
// (0600, written atomically; see docs/security.md for the format).
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "starling/crypto/secret.h"
#include "starling/status.h"

namespace starling::crypto {

inline constexpr std::size_t kPublicKeyBytes = 32;
inline constexpr std::size_t kSignatureBytes = 64;

using PublicKey = std::array<std::uint8_t, kPublicKeyBytes>;  // Ed25519 public key
using Signature = std::array<std::uint8_t, kSignatureBytes>;  // Ed25519 detached signature

// What to do when a key file already exists.
enum class Overwrite { no, yes };

// A peer's name: the 32-byte BLAKE2b hash of its identity public key. A value
// type: cheap to copy, ordered, hashable.
class NodeId {
 public:
  static constexpr std::size_t kSize = 32;
  using Bytes = std::array<std::uint8_t, kSize>;

  NodeId() { bytes_.fill(0); }
  explicit NodeId(const Bytes& bytes) : bytes_(bytes) {}

  static NodeId from_public_key(const PublicKey& public_key);
  // Parses the 64-character lowercase or uppercase hex form of to_hex().
  static Result<NodeId> from_hex(std::string_view hex);

  const Bytes& bytes() const { return bytes_; }
  std::string to_hex() const;
  // The first 12 hex digits, for logs and status lines.
  std::string short_hex() const;

  friend auto operator<=>(const NodeId&, const NodeId&) = default;
  friend bool operator==(const NodeId&, const NodeId&) = default;

 private:
  Bytes bytes_;
};

// The pre-shared key that makes a swarm private. A peer without it cannot
// complete a handshake nor read or forge a membership datagram.
class SwarmKey {
 public:
  static SwarmKey generate();
  // The open swarm: a fixed, public all-zero key. It authenticates nothing and
  // hides nothing from anyone; is_open() lets the application warn loudly.
  static SwarmKey open();
  static SwarmKey from_bytes(std::span<const std::uint8_t, 32> bytes);

  bool is_open() const { return open_; }
  const SymmetricKey& secret() const { return key_; }
  // A short public hash of the key ("b3f1c07a..."), so operators can check two
  // peers hold the same key without revealing it.
  std::string fingerprint() const;

  SwarmKey clone() const { return SwarmKey(key_.clone(), open_); }

  // Writes the key to path with mode 0600, atomically (temp file, fsync, rename).
  Status save(const std::filesystem::path& path, Overwrite overwrite = Overwrite::no) const;
  // Errors: not_found, security (file readable or writable by group/others),
  // corrupt (bad header, size or hex), unsupported (newer format version),
  // invalid_argument (an identity file, not a swarm key), io.
  static Result<SwarmKey> load(const std::filesystem::path& path);

 private:
  SwarmKey(SymmetricKey key, bool open) : key_(std::move(key)), open_(open) {}
  SymmetricKey key_;
  bool open_ = false;
};

// A peer's long-lived Ed25519 signing identity. A resource: not copyable.
class Identity {
 public:
  static Identity generate();
  // Deterministic identity from a 32-byte seed (tests, key files).
  static Identity from_seed(std::span<const std::uint8_t, 32> seed);

  Identity(Identity&&) noexcept = default;
  Identity& operator=(Identity&&) noexcept = default;
  Identity(const Identity&) = delete;
  Identity& operator=(const Identity&) = delete;

  // A second handle on the same key (e.g. one for the transport's sessions,
  // one for signing membership records). Explicit, like SecretBytes::clone.
  Identity clone() const;

  const PublicKey& public_key() const { return public_key_; }
  const NodeId& node_id() const { return node_id_; }

  Signature sign(std::span<const std::uint8_t> message) const;

  // Same file rules and errors as SwarmKey::save/load.
  Status save(const std::filesystem::path& path, Overwrite overwrite = Overwrite::no) const;
  static Result<Identity> load(const std::filesystem::path& path);

 private:
  Identity() = default;
  SecretBytes<64> secret_key_;  // libsodium's layout: seed followed by public key
  PublicKey public_key_{};
  NodeId node_id_;
};

// True when signature is public_key's signature of message.
bool verify_signature(const PublicKey& public_key, std::span<const std::uint8_t> message,
                      const Signature& signature);

// Lowercase hex of any byte range (no libsodium in callers).
std::string to_hex(std::span<const std::uint8_t> bytes);

}  // namespace starling::crypto

template <>
struct std::hash<starling::crypto::NodeId> {
  std::size_t operator()(const starling::crypto::NodeId& id) const noexcept {
    // The id is already a uniform hash: its first 8 bytes are a fine bucket key.
    std::size_t value = 0;
    for (std::size_t i = 0; i < sizeof(value); ++i) value = (value << 8) | id.bytes()[i];
    return value;
  }
};
