#include "starling/crypto/keys.h"

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "key_file.h"
#include "sodium_support.h"
#include "starling/text.h"
#include "typed_secret.h"

namespace starling::crypto {
namespace {

constexpr std::string_view kSwarmKeyHeader = "starling-swarm-key v1";
constexpr std::string_view kSwarmKeyHeaderPrefix = "starling-swarm-key v";
constexpr std::string_view kIdentityHeader = "starling-identity v1";
constexpr std::string_view kIdentityHeaderPrefix = "starling-identity v";
constexpr std::string_view kSeedField = "seed ";
constexpr std::string_view kPublicKeyField = "public-key ";

static_assert(crypto_sign_PUBLICKEYBYTES == kPublicKeyBytes);
static_assert(crypto_sign_BYTES == kSignatureBytes);
static_assert(crypto_sign_SECRETKEYBYTES == 64);
static_assert(crypto_sign_SEEDBYTES == 32);

// A std::string that holds secret text and is wiped before it is freed. The
// capacity is reserved up front so that no reallocation leaves a copy behind.
class SecretText {
 public:
  explicit SecretText(std::size_t capacity) { text_.reserve(capacity); }
  ~SecretText() { sodium_memzero(text_.data(), text_.capacity()); }
  SecretText(const SecretText&) = delete;
  SecretText& operator=(const SecretText&) = delete;
  void append(std::string_view part) {
    STARLING_ASSERT(text_.size() + part.size() <= text_.capacity());
    text_.append(part);
  }
  void append_hex(const std::uint8_t* bytes, std::size_t size) {
    STARLING_ASSERT(text_.size() + 2 * size <= text_.capacity());
    std::size_t start = text_.size();
    text_.resize(start + 2 * size + 1);
    sodium_bin2hex(text_.data() + start, 2 * size + 1, bytes, size);
    text_.resize(start + 2 * size);  // drop the terminating NUL
  }
  std::string_view view() const { return text_; }

 private:
  std::string text_;
};

// Splits a key file into lines, accepting one optional trailing newline and
// CRLF line ends (files edited on Windows).
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

// Decodes exactly 2*N hex digits into out; false on any other input.
template <std::size_t N>
bool decode_hex(std::string_view hex, std::uint8_t* out) {
  if (hex.size() != 2 * N) return false;
  std::size_t decoded = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(out, N, hex.data(), hex.size(), nullptr, &decoded, &end) != 0) return false;
  return decoded == N && end == hex.data() + hex.size();
}

// Checks the header line: the expected kind and version, or a clear error.
Status check_header(std::string_view first_line, std::string_view expected, std::string_view expected_prefix,
                    std::string_view other_prefix, const std::filesystem::path& path, std::string_view kind,
                    std::string_view other_kind) {
  if (first_line == expected) return ok_status();
  // The header with more on its line: the line break after it was lost (an
  // editor, a copy through a chat), so the key runs on after the version.
  // This was reported as a format this starling cannot read, quoting the
  // whole line: the secret key too, onto a terminal or into a log.
  if (first_line.starts_with(expected) && first_line.size() > expected.size()) {
    return make_error(ErrorKind::corrupt, path.string() + ": its first line is the header '" + std::string(expected) +
                                              "' with " + std::to_string(first_line.size() - expected.size()) +
                                              " more characters on it: the line break after the header was lost? "
                                              "Put the header and the key on lines of their own");
  }
  if (first_line.starts_with(expected_prefix)) {
    // Only the version's digits (at most 4) are quoted, so no key material
    // that ran on after them follows them out.
    constexpr std::size_t kLongestVersion = 4;
    const std::string_view rest = first_line.substr(expected_prefix.size());
    const std::size_t version = std::min({rest.find_first_not_of("0123456789"), rest.size(), kLongestVersion});
    const std::string shown = std::string(expected_prefix) + std::string(rest.substr(0, version)) +
                              (version < rest.size() ? "..." : "");
    return make_error(ErrorKind::unsupported, path.string() + " is " + std::string(kind) + " in format '" +
                                                  printable(shown) + "'; this starling reads '" +
                                                  std::string(expected) + "'");
  }
  if (first_line.starts_with(other_prefix)) {
    return make_error(ErrorKind::invalid_argument,
                      path.string() + " is " + std::string(other_kind) + ", not " + std::string(kind) + " file");
  }
  return make_error(ErrorKind::corrupt, path.string() + " is not " + std::string(kind) +
                                            " file (expected the header line '" + std::string(expected) + "')");
}

Error corrupt(const std::filesystem::path& path, std::string_view what) {
  return make_error(ErrorKind::corrupt, path.string() + ": " + std::string(what));
}

}  // namespace

// ---- NodeId -----------------------------------------------------------------

NodeId NodeId::from_public_key(const PublicKey& public_key) {
  internal::ensure_sodium();
  Bytes bytes{};
  int result = crypto_generichash(bytes.data(), bytes.size(), public_key.data(), public_key.size(), nullptr, 0);
  STARLING_ASSERT(result == 0);
  return NodeId(bytes);
}

Result<NodeId> NodeId::from_hex(std::string_view hex) {
  internal::ensure_sodium();
  Bytes bytes{};
  if (!decode_hex<kSize>(hex, bytes.data())) {
    return make_error(ErrorKind::invalid_argument, "not a node id (want 64 hex digits): '" + std::string(hex) + "'");
  }
  return NodeId(bytes);
}

std::string NodeId::to_hex() const { return crypto::to_hex(bytes_); }

std::string NodeId::short_hex() const { return crypto::to_hex(std::span(bytes_).first(6)); }

std::string to_hex(std::span<const std::uint8_t> bytes) {
  internal::ensure_sodium();
  std::string text(2 * bytes.size() + 1, '\0');
  sodium_bin2hex(text.data(), text.size(), bytes.data(), bytes.size());
  text.pop_back();
  return text;
}

// ---- SwarmKey ---------------------------------------------------------------

SwarmKey SwarmKey::generate() {
  internal::ensure_sodium();
  SymmetricKey key;
  // A draw that looks typed (about 3e-14) would be refused by load: draw again.
  do {
    crypto_kdf_keygen(key.data());
  } while (internal::typed_secret(key.view()));
  return SwarmKey(std::move(key), false);
}

SwarmKey SwarmKey::open() { return SwarmKey(SymmetricKey(), true); }

SwarmKey SwarmKey::from_bytes(std::span<const std::uint8_t, 32> bytes) { return SwarmKey(SymmetricKey(bytes), false); }

std::string SwarmKey::fingerprint() const {
  internal::ensure_sodium();
  std::array<std::uint8_t, 32> hash{};
  // A labelled hash, so the fingerprint is unrelated to any derived key.
  internal::KeyedHash hasher(key_);
  hasher.update("starling/swarm-key/fingerprint");
  hash = hasher.finish();
  return to_hex(std::span(hash).first(8));
}

Status SwarmKey::save(const std::filesystem::path& path, Overwrite overwrite) const {
  STARLING_ASSERT_MSG(!open_, "the open swarm key is public; it is never saved to a key file");
  SecretText text(128);
  text.append(kSwarmKeyHeader);
  text.append("\n");
  text.append_hex(key_.data(), key_.size());
  text.append("\n");
  return internal::write_secret_file(path, text.view(), overwrite);
}

Result<SwarmKey> SwarmKey::load(const std::filesystem::path& path) {
  internal::ensure_sodium();
  internal::KeyFileText file;
  if (Status status = internal::read_secret_file(path, file); !status) return status.error();
  std::vector<std::string_view> lines = split_lines(file.text());
  if (lines.empty()) return corrupt(path, "empty file, not a starling swarm key");
  if (Status status = check_header(lines[0], kSwarmKeyHeader, kSwarmKeyHeaderPrefix, kIdentityHeaderPrefix, path,
                                   "a starling swarm key", "an identity file");
      !status) {
    return status.error();
  }
  if (lines.size() != 2) return corrupt(path, "expected exactly one line of 64 hex digits after the header");
  SymmetricKey key;
  if (!decode_hex<SymmetricKey::kSize>(lines[1], key.data())) {
    return corrupt(path, "the key line must be exactly 64 hex digits (32 bytes); got " +
                             std::to_string(lines[1].size()) + " characters");
  }
  // All zeros is the open swarm's public key (SwarmKey::open): a peer using it
  // would call its swarm closed while anyone can join and read it. keygen
  // never writes it (crypto_kdf_keygen), so such a file was made by hand.
  if (sodium_is_zero(key.data(), key.size())) {
    return make_error(ErrorKind::security,
                      path.string() + ": the key is all zeros, the open swarm's public key, which keeps nobody out "
                                      "and hides nothing; make a real one with `starling keygen --swarm FILE`");
  }
  static_assert(SymmetricKey::kSize == 32);
  if (auto typed = internal::typed_secret(key.view())) {
    return make_error(ErrorKind::security, path.string() + ": the key was typed rather than drawn at random (" +
                                               *typed + "): anyone who guesses it joins and reads the swarm; make a "
                                               "real one with `starling keygen --swarm FILE`");
  }
  return SwarmKey(std::move(key), false);
}

// ---- Identity ---------------------------------------------------------------

Identity Identity::generate() {
  internal::ensure_sodium();
  SecretBytes<32> seed;
  do {  // as SwarmKey::generate: never a seed load would refuse
    randombytes_buf(seed.data(), seed.size());
  } while (internal::typed_secret(seed.view()));
  return from_seed(seed.view());
}

Identity Identity::from_seed(std::span<const std::uint8_t, 32> seed) {
  internal::ensure_sodium();
  Identity identity;
  int result = crypto_sign_seed_keypair(identity.public_key_.data(), identity.secret_key_.data(), seed.data());
  STARLING_ASSERT(result == 0);
  identity.node_id_ = NodeId::from_public_key(identity.public_key_);
  return identity;
}

Identity Identity::clone() const {
  Identity copy;
  copy.secret_key_ = secret_key_.clone();
  copy.public_key_ = public_key_;
  copy.node_id_ = node_id_;
  return copy;
}

Signature Identity::sign(std::span<const std::uint8_t> message) const {
  Signature signature{};
  int result = crypto_sign_detached(signature.data(), nullptr, message.data(), message.size(), secret_key_.data());
  STARLING_ASSERT(result == 0);
  return signature;
}

Status Identity::save(const std::filesystem::path& path, Overwrite overwrite) const {
  SecretText text(256);
  text.append(kIdentityHeader);
  text.append("\n");
  text.append(kSeedField);
  // libsodium's Ed25519 secret key is seed || public key: the seed is enough.
  text.append_hex(secret_key_.data(), crypto_sign_SEEDBYTES);
  text.append("\n");
  text.append(kPublicKeyField);
  text.append_hex(public_key_.data(), public_key_.size());
  text.append("\n");
  return internal::write_secret_file(path, text.view(), overwrite);
}

Result<Identity> Identity::load(const std::filesystem::path& path) {
  internal::ensure_sodium();
  internal::KeyFileText file;
  if (Status status = internal::read_secret_file(path, file); !status) return status.error();
  std::vector<std::string_view> lines = split_lines(file.text());
  if (lines.empty()) return corrupt(path, "empty file, not a starling identity");
  if (Status status = check_header(lines[0], kIdentityHeader, kIdentityHeaderPrefix, kSwarmKeyHeaderPrefix, path,
                                   "a starling identity", "a swarm key file");
      !status) {
    return status.error();
  }
  if (lines.size() != 3 || !lines[1].starts_with(kSeedField) || !lines[2].starts_with(kPublicKeyField)) {
    return corrupt(path, "expected the lines 'seed <64 hex digits>' and 'public-key <64 hex digits>'");
  }
  SecretBytes<32> seed;
  if (!decode_hex<32>(lines[1].substr(kSeedField.size()), seed.data())) {
    return corrupt(path, "the seed must be exactly 64 hex digits (32 bytes)");
  }
  PublicKey stored_public_key{};
  if (!decode_hex<kPublicKeyBytes>(lines[2].substr(kPublicKeyField.size()), stored_public_key.data())) {
    return corrupt(path, "the public key must be exactly 64 hex digits (32 bytes)");
  }
  if (auto typed = internal::typed_secret(seed.view())) {
    return make_error(ErrorKind::security, path.string() + ": the identity's seed was typed rather than drawn at "
                                               "random (" + *typed + "): anyone can sign as this node; make a new "
                                               "one with `starling keygen --identity FILE --force` (a new node id)");
  }
  Identity identity = from_seed(seed.view());
  // The public key is redundant on purpose: a damaged seed shows up here
  // instead of as a silently different node id.
  if (sodium_memcmp(identity.public_key_.data(), stored_public_key.data(), kPublicKeyBytes) != 0) {
    return corrupt(path, "the public key does not match the seed (damaged file?)");
  }
  return identity;
}

bool verify_signature(const PublicKey& public_key, std::span<const std::uint8_t> message,
                      const Signature& signature) {
  internal::ensure_sodium();
  return crypto_sign_verify_detached(signature.data(), message.data(), message.size(), public_key.data()) == 0;
}

}  // namespace starling::crypto
