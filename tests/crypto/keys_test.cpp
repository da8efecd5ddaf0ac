#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <new>
#include <string>
#include <unordered_set>
#include <vector>

#include "starling/crypto/keys.h"
#include "starling/crypto/secret.h"
#include "../common/temp_dir.h"

using namespace starling;
using namespace starling::crypto;
using starling::testing::TempDir;

namespace {

void write_file(const std::filesystem::path& path, std::string_view contents, mode_t mode = 0600) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  }
  ::chmod(path.c_str(), mode);
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

mode_t file_mode(const std::filesystem::path& path) {
  struct stat info {};
  ::stat(path.c_str(), &info);
  return info.st_mode & 07777;
}

// 32 bytes drawn at random once (Python's secrets.token_hex), written down:
// a key that no typed-secret rule refuses.
constexpr std::string_view kDrawnHex = "b90a3d8d7a9616f40e52c26e0782937013d8caa4c35a7143e4ee33f0924e4008";

// A well-formed key file.
std::string valid_swarm_file() { return "starling-swarm-key v1\n" + std::string(kDrawnHex) + "\n"; }

template <typename T>
ErrorKind error_kind(const Result<T>& result) {
  REQUIRE_FALSE(result.ok());
  return result.error().kind;
}

}  // namespace

TEST_CASE("SecretBytes wipes itself on destruction", "[crypto][secret]") {
  // Construct into storage we own, so reading it after the destructor reads
  // live memory, never freed memory.
  alignas(SecretBytes<32>) unsigned char storage[sizeof(SecretBytes<32>)];
  auto* secret = new (storage) SecretBytes<32>();
  std::fill(secret->data(), secret->data() + 32, std::uint8_t{0xAB});
  REQUIRE(std::count(storage, storage + sizeof(storage), 0xAB) == 32);
  secret->~SecretBytes<32>();
  CHECK(std::count(storage, storage + sizeof(storage), 0) == static_cast<long>(sizeof(storage)));
}

TEST_CASE("SecretBytes moves wipe the source and clone is explicit", "[crypto][secret]") {
  SecretBytes<16> original;
  std::fill(original.data(), original.data() + 16, std::uint8_t{7});
  SecretBytes<16> copy = original.clone();
  CHECK(copy.equals(original));
  SecretBytes<16> moved = std::move(original);
  CHECK(moved.equals(copy));
  CHECK(std::all_of(original.data(), original.data() + 16, [](std::uint8_t b) { return b == 0; }));  // NOLINT
  static_assert(!std::is_copy_constructible_v<SecretBytes<16>>);
  static_assert(!std::is_copy_assignable_v<SecretBytes<16>>);
}

TEST_CASE("NodeId is the hash of the public key, with hex forms", "[crypto][keys]") {
  Identity a = Identity::generate();
  Identity b = Identity::generate();
  CHECK(a.node_id() == NodeId::from_public_key(a.public_key()));
  CHECK(a.node_id() != b.node_id());
  CHECK(a.node_id().to_hex().size() == 64);
  CHECK(a.node_id().short_hex().size() == 12);
  CHECK(a.node_id().to_hex().starts_with(a.node_id().short_hex()));
  Result<NodeId> parsed = NodeId::from_hex(a.node_id().to_hex());
  REQUIRE(parsed.ok());
  CHECK(*parsed == a.node_id());
  CHECK(error_kind(NodeId::from_hex("abc")) == ErrorKind::invalid_argument);
  CHECK(error_kind(NodeId::from_hex(std::string(64, 'g'))) == ErrorKind::invalid_argument);
  std::unordered_set<NodeId> set{a.node_id(), b.node_id(), a.node_id()};
  CHECK(set.size() == 2);
}

TEST_CASE("Identity signs and verifies, from_seed is deterministic", "[crypto][keys]") {
  std::array<std::uint8_t, 32> seed{};
  seed[0] = 42;
  Identity a = Identity::from_seed(seed);
  Identity b = Identity::from_seed(seed);
  CHECK(a.public_key() == b.public_key());
  std::string text = "gossip";
  std::span message(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  Signature signature = a.sign(message);
  CHECK(verify_signature(a.public_key(), message, signature));
  signature[3] ^= 1;
  CHECK_FALSE(verify_signature(a.public_key(), message, signature));
  CHECK_FALSE(verify_signature(Identity::generate().public_key(), message, a.sign(message)));
  // clone() is a second handle on the same key (membership signs with one,
  // the transport's sessions use the other).
  Identity c = a.clone();
  CHECK(c.node_id() == a.node_id());
  CHECK(verify_signature(a.public_key(), message, c.sign(message)));
}

TEST_CASE("swarm key files round-trip with mode 0600 and no leftovers", "[crypto][keyfile]") {
  TempDir dir;
  SwarmKey key = SwarmKey::generate();
  CHECK_FALSE(key.is_open());
  REQUIRE(key.save(dir / "swarm.key").ok());
  CHECK(file_mode(dir / "swarm.key") == 0600);
  CHECK(read_file(dir / "swarm.key").starts_with("starling-swarm-key v1\n"));
  Result<SwarmKey> loaded = SwarmKey::load(dir / "swarm.key");
  REQUIRE(loaded.ok());
  CHECK(loaded->secret().equals(key.secret()));
  CHECK(loaded->fingerprint() == key.fingerprint());
  CHECK(loaded->fingerprint() != SwarmKey::generate().fingerprint());
  auto entries = std::distance(std::filesystem::directory_iterator(dir.path), std::filesystem::directory_iterator());
  CHECK(entries == 1);  // the temp file was renamed or removed
}

TEST_CASE("identity files round-trip", "[crypto][keyfile]") {
  TempDir dir;
  Identity identity = Identity::generate();
  REQUIRE(identity.save(dir / "id.key").ok());
  CHECK(file_mode(dir / "id.key") == 0600);
  Result<Identity> loaded = Identity::load(dir / "id.key");
  REQUIRE(loaded.ok());
  CHECK(loaded->node_id() == identity.node_id());
  std::array<std::uint8_t, 3> message{1, 2, 3};
  CHECK(loaded->sign(message) == identity.sign(message));
}

TEST_CASE("a temp file a killed key write left behind is removed by the next write or load", "[crypto][keyfile]") {
  // SIGINT ~80 ms into `starling peer` left DATA_DIR/identity.key.tmp-XXXXXX
  // (a whole private identity, 0600); the next start wrote a fresh
  // identity.key and left it there for good.
  TempDir dir;
  const Identity secret = Identity::generate();
  REQUIRE(secret.save(dir / "stale-source.key").ok());
  const std::string stale_text = read_file(dir / "stale-source.key");
  std::filesystem::remove(dir / "stale-source.key");
  write_file(dir / "identity.key.tmp-Ab3xYz", stale_text);
  write_file(dir / "identity.key.tmp-k9Q2mn", stale_text);
  // Not ours: other names, and another key file's temp files wait for its own write.
  write_file(dir / "identity.key.tmp-toolong1", "keep");
  write_file(dir / "identity.key.bak", "keep");
  write_file(dir / "swarm.key.tmp-Ab3xYz", "keep");
  std::filesystem::create_directory(dir / "identity.key.tmp-dir123");

  REQUIRE(Identity::generate().save(dir / "identity.key").ok());
  CHECK_FALSE(std::filesystem::exists(dir / "identity.key.tmp-Ab3xYz"));
  CHECK_FALSE(std::filesystem::exists(dir / "identity.key.tmp-k9Q2mn"));
  CHECK(std::filesystem::exists(dir / "identity.key.tmp-toolong1"));
  CHECK(std::filesystem::exists(dir / "identity.key.bak"));
  CHECK(std::filesystem::exists(dir / "swarm.key.tmp-Ab3xYz"));
  CHECK(std::filesystem::is_directory(dir / "identity.key.tmp-dir123"));

  // A start that only loads the key (it exists) removes them too.
  write_file(dir / "identity.key.tmp-Zz0011", stale_text);
  REQUIRE(Identity::load(dir / "identity.key").ok());
  CHECK_FALSE(std::filesystem::exists(dir / "identity.key.tmp-Zz0011"));
  // And a swarm key's, by its own write.
  REQUIRE(SwarmKey::generate().save(dir / "swarm.key").ok());
  CHECK_FALSE(std::filesystem::exists(dir / "swarm.key.tmp-Ab3xYz"));
}

TEST_CASE("key files are never overwritten unless asked", "[crypto][keyfile]") {
  TempDir dir;
  SwarmKey first = SwarmKey::generate();
  SwarmKey second = SwarmKey::generate();
  REQUIRE(first.save(dir / "swarm.key").ok());
  Status again = second.save(dir / "swarm.key");
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().kind == ErrorKind::invalid_argument);
  CHECK_THAT(again.error().message, Catch::Contains("already exists"));
  CHECK(SwarmKey::load(dir / "swarm.key")->secret().equals(first.secret()));
  REQUIRE(second.save(dir / "swarm.key", Overwrite::yes).ok());
  CHECK(SwarmKey::load(dir / "swarm.key")->secret().equals(second.secret()));
  CHECK(file_mode(dir / "swarm.key") == 0600);
  auto entries = std::distance(std::filesystem::directory_iterator(dir.path), std::filesystem::directory_iterator());
  CHECK(entries == 1);
}

TEST_CASE("key files readable by group or others are refused", "[crypto][keyfile]") {
  TempDir dir;
  for (mode_t mode : {0644, 0640, 0604, 0660, 0606}) {
    INFO("mode " << std::oct << mode);
    write_file(dir / "swarm.key", valid_swarm_file(), mode);
    Result<SwarmKey> loaded = SwarmKey::load(dir / "swarm.key");
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.error().kind == ErrorKind::security);
    CHECK_THAT(loaded.error().message, Catch::Contains("chmod 600"));
  }
  write_file(dir / "swarm.key", valid_swarm_file(), 0400);
  CHECK(SwarmKey::load(dir / "swarm.key").ok());
  Identity identity = Identity::generate();
  REQUIRE(identity.save(dir / "id.key").ok());
  ::chmod((dir / "id.key").c_str(), 0644);
  CHECK(error_kind(Identity::load(dir / "id.key")) == ErrorKind::security);
}

TEST_CASE("bad key files give clear errors, never a crash", "[crypto][keyfile]") {
  TempDir dir;
  auto load_text = [&](std::string_view text) {
    write_file(dir / "k", text);
    return SwarmKey::load(dir / "k");
  };
  CHECK(error_kind(SwarmKey::load(dir / "missing")) == ErrorKind::not_found);
  CHECK(error_kind(SwarmKey::load(dir.path)) == ErrorKind::invalid_argument);  // a directory
  CHECK(error_kind(load_text("")) == ErrorKind::corrupt);
  CHECK(error_kind(load_text("starling-swarm-key v1\n" + std::string(62, 'a') + "\n")) == ErrorKind::corrupt);
  CHECK(error_kind(load_text("starling-swarm-key v1\n" + std::string(66, 'a') + "\n")) == ErrorKind::corrupt);
  CHECK(error_kind(load_text("starling-swarm-key v1\n" + std::string(63, 'a') + "z\n")) == ErrorKind::corrupt);
  CHECK(error_kind(load_text("starling-swarm-key v1\n")) == ErrorKind::corrupt);
  CHECK(error_kind(load_text(valid_swarm_file() + "extra\n")) == ErrorKind::corrupt);
  CHECK(error_kind(load_text(std::string(32, '\0'))) == ErrorKind::corrupt);  // a raw 32-byte key
  CHECK(error_kind(load_text(std::string(10000, 'x'))) == ErrorKind::corrupt);
  CHECK(error_kind(load_text("starling-swarm-key v2\n" + std::string(64, 'a') + "\n")) == ErrorKind::unsupported);
  const std::string hex = "B90A3D8D7A9616F40E52C26E0782937013D8CAA4C35A7143e4ee33f0924e4008";  // either case
  // The line break after the header lost: it was "a format this starling
  // cannot read", quoting the whole line, secret key and all.
  Result<SwarmKey> run_on = load_text("starling-swarm-key v1" + hex + "\n");
  CHECK(error_kind(run_on) == ErrorKind::corrupt);
  CHECK_THAT(run_on.error().message, Catch::Contains("line break after the header was lost") &&
                                         !Catch::Contains(hex.substr(0, 8)));
  // Another version is named, but never more of its line than a version takes.
  Result<SwarmKey> newer = load_text("starling-swarm-key v2 " + hex + "\n");
  CHECK(error_kind(newer) == ErrorKind::unsupported);
  CHECK_THAT(newer.error().message, Catch::Contains("format 'starling-swarm-key v2...'") && !Catch::Contains(hex.substr(0, 8)));
  CHECK_THAT(load_text("starling-swarm-key v7" + hex + "\n").error().message,
             Catch::Contains("format 'starling-swarm-key v7...'") && !Catch::Contains("v7B"));
  write_file(dir / "id", "starling-identity v1" + std::string(64, 'c') + "\n");
  CHECK(error_kind(Identity::load(dir / "id")) == ErrorKind::corrupt);
  CHECK(load_text("starling-swarm-key v1\r\n" + hex + "\r\n").ok());
  CHECK(load_text("starling-swarm-key v1\n" + hex).ok());  // no final newline
  // All zeros is the open swarm's public key: a file holding it was taken as a closed swarm.
  Result<SwarmKey> zero = load_text("starling-swarm-key v1\n" + std::string(64, '0') + "\n");
  CHECK(error_kind(zero) == ErrorKind::security);
  CHECK_THAT(zero.error().message, Catch::Contains("all zeros") && Catch::Contains("starling keygen --swarm"));
  // Any byte repeated 32 times was typed, not drawn (2^-248 at random).
  for (const char digit : {'f', 'a', '1'}) {
    Result<SwarmKey> typed = load_text("starling-swarm-key v1\n" + std::string(64, digit) + "\n");
    CHECK(error_kind(typed) == ErrorKind::security);
    CHECK_THAT(typed.error().message, Catch::Contains(std::string("the byte ") + digit + digit + " repeated") &&
                                          Catch::Contains("typed rather than drawn"));
  }
  // So is a key of few byte values (16 or fewer: 2.2e-15 at random), or of a
  // short pattern of steps between bytes (2.8e-14), however it is spelt.
  std::string counting;
  for (int i = 0; i < 32; ++i) {  // 03 0a 11 ...: 32 values, one step
    const int byte = (7 * i + 3) % 256;
    counting += "0123456789abcdef"[byte >> 4];
    counting += "0123456789abcdef"[byte & 15];
  }
  struct Typed {
    std::string hex;
    std::string why;
  };
  const std::vector<Typed> typed_keys = {
      {std::string(63, '0') + "1", "only 2 distinct byte values"},
      {std::string(62, 'f') + "fe", "only 2 distinct byte values"},
      {"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", "only 16 distinct byte values"},
      {"deadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef", "only 4 distinct byte values"},
      {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "only 8 distinct byte values"},
      {counting, "a pattern: only 1 distinct steps"},
  };
  for (const auto& [typed_hex, why] : typed_keys) {
    INFO(typed_hex);
    Result<SwarmKey> typed = load_text("starling-swarm-key v1\n" + typed_hex + "\n");
    CHECK(error_kind(typed) == ErrorKind::security);
    CHECK_THAT(typed.error().message, Catch::Contains(why) && Catch::Contains("starling keygen --swarm"));
  }
  // Keys keygen draws always load (a draw that looked typed is drawn again).
  for (int i = 0; i < 300; ++i) {
    REQUIRE(SwarmKey::generate().save(dir / "drawn.key", Overwrite::yes).ok());
    REQUIRE(SwarmKey::load(dir / "drawn.key").ok());
  }

  Identity identity = Identity::generate();
  REQUIRE(identity.save(dir / "id.key").ok());
  Result<SwarmKey> identity_as_swarm = SwarmKey::load(dir / "id.key");
  CHECK(error_kind(identity_as_swarm) == ErrorKind::invalid_argument);
  CHECK_THAT(identity_as_swarm.error().message, Catch::Contains("identity"));
  write_file(dir / "swarm.key", valid_swarm_file());
  CHECK(error_kind(Identity::load(dir / "swarm.key")) == ErrorKind::invalid_argument);

  // A damaged seed no longer matches the stored public key.
  std::string text = read_file(dir / "id.key");
  std::size_t seed_at = text.find("seed ") + 5;
  text[seed_at] = text[seed_at] == '0' ? '1' : '0';
  write_file(dir / "id.key", text);
  Result<Identity> damaged = Identity::load(dir / "id.key");
  CHECK(error_kind(damaged) == ErrorKind::corrupt);
  CHECK_THAT(damaged.error().message, Catch::Contains("does not match"));
  write_file(dir / "id.key", "starling-identity v1\nseed abc\npublic-key def\n");
  CHECK(error_kind(Identity::load(dir / "id.key")) == ErrorKind::corrupt);

  // A seed of one byte repeated was typed: anyone could sign as that node,
  // even with a matching public key in the file.
  std::array<std::uint8_t, 32> typed_seed{};
  typed_seed.fill(0x11);
  REQUIRE(Identity::from_seed(typed_seed).save(dir / "typed.key").ok());
  Result<Identity> typed = Identity::load(dir / "typed.key");
  CHECK(error_kind(typed) == ErrorKind::security);
  CHECK_THAT(typed.error().message, Catch::Contains("the byte 11 repeated") && Catch::Contains("keygen --identity"));
  typed_seed[31] = 0x12;  // two byte values: as guessable
  REQUIRE(Identity::from_seed(typed_seed).save(dir / "almost.key").ok());
  Result<Identity> almost = Identity::load(dir / "almost.key");
  CHECK(error_kind(almost) == ErrorKind::security);
  CHECK_THAT(almost.error().message, Catch::Contains("only 2 distinct byte values"));
  for (int i = 0; i < 100; ++i) {  // every identity keygen makes loads
    REQUIRE(Identity::generate().save(dir / "drawn-id.key", Overwrite::yes).ok());
    REQUIRE(Identity::load(dir / "drawn-id.key").ok());
  }
}

TEST_CASE("a key path that is a FIFO or a device is refused, never waited on or replaced", "[crypto][keyfile]") {
  TempDir dir;
  // Opening a FIFO for reading blocks until a writer comes: the load must
  // refuse it at once (the test would hang here without O_NONBLOCK).
  REQUIRE(::mkfifo((dir / "fifo.key").c_str(), 0600) == 0);
  Result<SwarmKey> loaded = SwarmKey::load(dir / "fifo.key");
  CHECK(error_kind(loaded) == ErrorKind::invalid_argument);
  CHECK_THAT(loaded.error().message, Catch::Contains("not a regular file"));
  CHECK(error_kind(Identity::load(dir / "fifo.key")) == ErrorKind::invalid_argument);
  // `keygen --force` onto it (as onto /dev/null) leaves it what it was.
  Status saved = SwarmKey::generate().save(dir / "fifo.key", Overwrite::yes);
  REQUIRE_FALSE(saved.ok());
  CHECK(saved.error().kind == ErrorKind::invalid_argument);
  CHECK_THAT(saved.error().message, Catch::Contains("not a regular file"));
  struct stat info {};
  REQUIRE(::lstat((dir / "fifo.key").c_str(), &info) == 0);
  CHECK(S_ISFIFO(info.st_mode));
  auto entries = std::distance(std::filesystem::directory_iterator(dir.path), std::filesystem::directory_iterator());
  CHECK(entries == 1);  // no temporary file left behind
}

TEST_CASE("the open swarm key is public and flagged", "[crypto][keys]") {
  SwarmKey open = SwarmKey::open();
  CHECK(open.is_open());
  CHECK(std::all_of(open.secret().data(), open.secret().data() + 32, [](std::uint8_t b) { return b == 0; }));
  CHECK_FALSE(SwarmKey::from_bytes(open.secret().view()).is_open());
}
