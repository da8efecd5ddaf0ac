// The message codec: round trips, and hostile input giving typed errors.
//
// A few tests patch encoded bytes to build inputs a correct encoder never
// makes (another version, a 31-byte node id). They first check that the bytes
// they patch hold what they expect, so a layout change fails loudly instead of
// testing nothing.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "sample_messages.h"
#include "starling/text.h"
#include "starling/wire/codec.h"

using namespace starling;
using namespace starling::wire;

namespace {

std::vector<std::uint8_t> encoded(const Message& message, const Limits& limits = {}) {
  auto bytes = encode(message, limits);
  REQUIRE(bytes.ok());
  return std::move(bytes).value();
}

ErrorKind decode_error(std::span<const std::uint8_t> bytes, const Limits& limits = {}) {
  auto decoded = decode(bytes, limits);
  REQUIRE_FALSE(decoded.ok());
  return decoded.error().kind;
}

// Root struct of a one-segment message: 8 bytes of segment table, 8 of root
// pointer, then the envelope's data section (version u16, union tag u16).
constexpr std::size_t kVersionOffset = 16;
constexpr std::size_t kBodyTagOffset = 18;

std::uint16_t read_u16(const std::vector<std::uint8_t>& bytes, std::size_t offset) {
  return static_cast<std::uint16_t>(bytes[offset] | (bytes[offset + 1] << 8));
}
void write_u16(std::vector<std::uint8_t>& bytes, std::size_t offset, std::uint16_t value) {
  bytes[offset] = static_cast<std::uint8_t>(value & 0xff);
  bytes[offset + 1] = static_cast<std::uint8_t>(value >> 8);
}

template <std::size_t... I>
std::vector<Message> default_of_each(std::index_sequence<I...>) {
  return {Message(std::in_place_index<I>)...};
}

}  // namespace

TEST_CASE("every message kind round-trips with all its fields", "[wire][codec]") {
  std::set<std::size_t> kinds;
  for (const Message& message : samples::all()) {
    INFO(message_name(message));
    kinds.insert(message.index());
    auto bytes = encoded(message);
    CHECK(bytes.size() % 8 == 0);
    auto decoded = decode(bytes);
    REQUIRE(decoded.ok());
    CHECK(*decoded == message);
    CHECK(std::string(message_name(*decoded)) == message_name(message));
  }
  CHECK(kinds.size() == std::variant_size_v<Message>);
}

TEST_CASE("default-constructed messages round-trip", "[wire][codec]") {
  for (const Message& message : default_of_each(std::make_index_sequence<std::variant_size_v<Message>>{})) {
    INFO(message_name(message));
    auto decoded = decode(encoded(message));
    REQUIRE(decoded.ok());
    CHECK(*decoded == message);
  }
}

TEST_CASE("large payloads round-trip and encode_into reuses its buffer", "[wire][codec]") {
  Delta delta = samples::large_delta(std::size_t{1} << 20);
  std::vector<std::uint8_t> buffer;
  REQUIRE(encode_into(delta, buffer).ok());
  CHECK(buffer.size() >= (std::size_t{1} << 20));
  CHECK(buffer.size() < (std::size_t{1} << 20) + 1024);
  const auto* storage = buffer.data();
  REQUIRE(encode_into(delta, buffer).ok());
  CHECK(buffer.data() == storage);
  auto decoded = decode(buffer);
  REQUIRE(decoded.ok());
  CHECK(std::get<Delta>(*decoded) == delta);

  PushPull many{samples::node_id(1), "a:1", samples::updates(5000), false, false, samples::members(5000)};
  auto pulled = decode(encoded(many));
  REQUIRE(pulled.ok());
  CHECK(std::get<PushPull>(*pulled) == many);
}

TEST_CASE("decoding works from an unaligned buffer", "[wire][codec]") {
  auto bytes = encoded(samples::all().front());
  std::vector<std::uint8_t> shifted(bytes.size() + 1);
  std::memcpy(shifted.data() + 1, bytes.data(), bytes.size());
  auto decoded = decode(std::span(shifted).subspan(1));
  REQUIRE(decoded.ok());
  CHECK(*decoded == samples::all().front());
}

TEST_CASE("truncated messages are corrupt", "[wire][codec]") {
  for (const Message& message : samples::all()) {
    INFO(message_name(message));
    auto bytes = encoded(message);
    for (std::size_t size = 0; size < bytes.size(); ++size) {
      INFO("prefix of " << size << " bytes");
      CHECK(decode_error(std::span(bytes).first(size)) == ErrorKind::corrupt);
    }
  }
}

TEST_CASE("trailing bytes after a message are corrupt", "[wire][codec]") {
  auto bytes = encoded(Leave{samples::node_id(1), "a:1", {}, 3});
  bytes.resize(bytes.size() + 8, 0);
  CHECK(decode_error(bytes) == ErrorKind::corrupt);
}

TEST_CASE("bit flips never crash and only give typed errors", "[wire][codec]") {
  const std::set<ErrorKind> allowed{ErrorKind::corrupt, ErrorKind::unsupported, ErrorKind::overloaded};
  std::size_t rejected = 0;
  for (const Message& message : samples::all()) {
    auto bytes = encoded(message);
    for (std::size_t bit = 0; bit < bytes.size() * 8; ++bit) {
      bytes[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
      auto decoded = decode(bytes);
      if (!decoded.ok()) {
        INFO(message_name(message) << " bit " << bit << ": " << decoded.error().message);
        CHECK(allowed.count(decoded.error().kind) == 1);
        ++rejected;
      }
      bytes[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    }
  }
  CHECK(rejected > 0);
}

TEST_CASE("specific bit flips give the expected error", "[wire][codec]") {
  auto bytes = encoded(Nack{samples::node_id(1), "a:1", {}, 1});
  SECTION("segment table announcing more than is there") {
    bytes[4] ^= 0x40;  // first segment's size, low byte
    CHECK(decode_error(bytes) == ErrorKind::corrupt);
  }
  SECTION("root pointer pointing outside the segment") {
    bytes[8 + 3] ^= 0x40;  // high bits of the root struct pointer's offset
    CHECK(decode_error(bytes) == ErrorKind::corrupt);
  }
}

TEST_CASE("messages over the size limit are overloaded, both ways", "[wire][codec]") {
  Limits small;
  small.max_message_bytes = 1024;
  ModelChunk chunk{1, 0, 4096, std::vector<std::uint8_t>(4096, 0xab)};
  auto big = encoded(chunk);
  CHECK(decode_error(big, small) == ErrorKind::overloaded);
  auto refused = encode(chunk, small);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().kind == ErrorKind::overloaded);
  // Checked on the input size before parsing: garbage of that size too.
  std::vector<std::uint8_t> garbage(small.max_message_bytes + 8, 0xff);
  CHECK(decode_error(garbage, small) == ErrorKind::overloaded);
}

TEST_CASE("lists over their limit are overloaded, the encoder refuses them", "[wire][codec]") {
  Limits limits;
  limits.max_members = 5;
  PushPull crowd{samples::node_id(1), "a:1", {}, false, false, samples::members(6)};
  auto bytes = encoded(crowd);  // default limits allow it
  CHECK(decode_error(bytes, limits) == ErrorKind::overloaded);
  auto refused = encode(crowd, limits);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().kind == ErrorKind::invalid_argument);

  Limits few_peers;
  few_peers.max_partition_peers = 1;
  FaultControl fault;
  fault.partitioned_from = {samples::node_id(1), samples::node_id(2)};
  CHECK(decode_error(encoded(fault), few_peers) == ErrorKind::overloaded);
}

TEST_CASE("text over its limit is corrupt", "[wire][codec]") {
  Reset reset{1, ResetReason::shutdown, std::string(5000, 'x')};
  Limits generous;
  generous.max_text_bytes = 10000;
  CHECK(decode_error(encoded(reset, generous)) == ErrorKind::corrupt);
  auto refused = encode(reset);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().kind == ErrorKind::invalid_argument);

  LinkHello hello;
  hello.model_shape = std::string(300, 'x');
  generous.max_shape_bytes = 1000;
  CHECK(decode_error(encoded(hello, generous)) == ErrorKind::corrupt);
  CHECK(encode(hello).error().kind == ErrorKind::invalid_argument);
  hello.model_shape = "mlp:8 over 4 inputs and 2 classes";
  auto decoded = decode(encoded(hello));
  REQUIRE(decoded.ok());
  CHECK(std::get<LinkHello>(*decoded).model_shape == hello.model_shape);
}

TEST_CASE("too-deep nesting and traversal overrun are corrupt", "[wire][codec]") {
  // Our schemas nest at most 5 deep, so a peer cannot exceed the default
  // limit with a valid message; lowering the limit shows it is enforced.
  auto bytes = encoded(Ping{samples::node_id(1), "a:1", samples::updates(2), 1, samples::node_id(2)});
  Limits shallow;
  shallow.nesting_limit = 2;
  CHECK(decode_error(bytes, shallow) == ErrorKind::corrupt);
  Limits stingy;
  stingy.traversal_limit_words = 8;
  CHECK(decode_error(bytes, stingy) == ErrorKind::corrupt);
}

TEST_CASE("wire version: missing is corrupt, newer is unsupported", "[wire][codec]") {
  auto bytes = encoded(StatusQuery{7});
  REQUIRE(read_u16(bytes, kVersionOffset) == kWireVersion);
  SECTION("newer") {
    write_u16(bytes, kVersionOffset, kWireVersion + 1);
    auto decoded = decode(bytes);
    REQUIRE_FALSE(decoded.ok());
    CHECK(decoded.error().kind == ErrorKind::unsupported);
    CHECK_THAT(decoded.error().message, Catch::Contains("version"));
  }
  SECTION("missing") {
    write_u16(bytes, kVersionOffset, 0);
    CHECK(decode_error(bytes) == ErrorKind::corrupt);
  }
}

TEST_CASE("an unknown message kind from a newer peer is unsupported", "[wire][codec]") {
  auto bytes = encoded(Digest{1, 2, samples::bytes<32>(3)});
  REQUIRE(read_u16(bytes, kBodyTagOffset) == 11);  // digest is the 12th union member
  write_u16(bytes, kBodyTagOffset, 200);
  CHECK(decode_error(bytes) == ErrorKind::unsupported);
}

// Finds the Data pointers announcing `size` bytes (list pointer, byte
// elements) and makes them announce one byte less. Returns how many it patched.
static std::size_t shrink_data_fields(std::vector<std::uint8_t>& bytes, std::uint32_t size) {
  const std::uint32_t byte_list = (size << 3) | 2u;
  std::size_t patched = 0;
  for (std::size_t offset = 8; offset + 8 <= bytes.size(); offset += 8) {
    std::uint64_t word;
    std::memcpy(&word, bytes.data() + offset, 8);
    if ((word & 3) == 1 && (word >> 32) == byte_list) {
      word = (word & 0xffffffffu) | (std::uint64_t{((size - 1) << 3) | 2u} << 32);
      std::memcpy(bytes.data() + offset, &word, 8);
      ++patched;
    }
  }
  return patched;
}

TEST_CASE("a node id of the wrong size is corrupt", "[wire][codec]") {
  auto bytes = encoded(Leave{samples::node_id(1), "", {}, 9});
  REQUIRE(shrink_data_fields(bytes, 32) == 1);
  auto decoded = decode(bytes);
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.error().kind == ErrorKind::corrupt);
  CHECK_THAT(decoded.error().message, Catch::Contains("32 bytes"));
}

TEST_CASE("handshake and datagram fields of the wrong size are corrupt", "[wire][codec]") {
  struct Case {
    Message message;
    std::uint32_t size;
    std::size_t fields = 1;  // how many fields of that size the message holds
  };
  const std::vector<Case> cases{
      {HandshakeHello{1, samples::bytes<32>(1), samples::bytes<kSealedIdentityBytes>(2)}, kSealedIdentityBytes},
      {HandshakeReply{1, samples::bytes<32>(1), samples::bytes<kSealedIdentityProofBytes>(2)},
       kSealedIdentityProofBytes},
      {HandshakeFinish{samples::bytes<kSealedSignatureBytes>(2)}, kSealedSignatureBytes},
      {HandshakeHello{1, samples::bytes<32>(1), samples::bytes<kSealedIdentityBytes>(2)}, 32},
      {SealedDatagram{samples::bytes<kDatagramNonceBytes>(1), samples::node_id(2), 1, 2, {1, 2, 3}},
       kDatagramNonceBytes},
      // The sender id and the sender's public key are both 32 bytes.
      {SealedDatagram{samples::bytes<kDatagramNonceBytes>(1), samples::node_id(2), 1, 2, {1, 2, 3}}, 32, 2},
      {SealedDatagram{samples::bytes<kDatagramNonceBytes>(1), samples::node_id(2), 1, 2, {1, 2, 3}}, 64},
  };
  for (const auto& c : cases) {
    INFO(message_name(c.message) << " field of " << c.size << " bytes");
    auto bytes = encoded(c.message);
    REQUIRE(shrink_data_fields(bytes, c.size) == c.fields);
    auto decoded = decode(bytes);
    REQUIRE_FALSE(decoded.ok());
    CHECK(decoded.error().kind == ErrorKind::corrupt);
    CHECK_THAT(decoded.error().message, Catch::Contains(std::to_string(c.size) + " bytes"));
  }
}

TEST_CASE("a datagram ciphertext over its limit is corrupt", "[wire][codec]") {
  SealedDatagram datagram{samples::bytes<kDatagramNonceBytes>(1), samples::node_id(2), 1, 2,
                          std::vector<std::uint8_t>(100, 7)};
  Limits small;
  small.max_ciphertext_bytes = 99;
  CHECK(decode_error(encoded(datagram), small) == ErrorKind::corrupt);
}

TEST_CASE("values no peer may send are refused when encoding", "[wire][codec]") {
  FaultControl fault;
  fault.drop_probability = std::numeric_limits<double>::quiet_NaN();
  CHECK(encode(fault).error().kind == ErrorKind::invalid_argument);
  fault.drop_probability = 1.5;
  CHECK(encode(fault).error().kind == ErrorKind::invalid_argument);

  TrainingControl training;
  training.slowdown = 0.5;  // a straggler factor below 1 would speed a peer up
  CHECK(encode(training).error().kind == ErrorKind::invalid_argument);
  training.slowdown = std::numeric_limits<double>::infinity();
  CHECK(encode(training).error().kind == ErrorKind::invalid_argument);
  training.slowdown = 2.0;
  training.byzantine_scale = std::numeric_limits<double>::quiet_NaN();
  CHECK(encode(training).error().kind == ErrorKind::invalid_argument);
  training.byzantine_scale = -10.0;
  CHECK(encode(training).ok());

  SnapshotChunk mixed{1, 0, 2, Precision::bf16, {1.0f}, {}};
  CHECK(encode(mixed).error().kind == ErrorKind::invalid_argument);
  // A based chunk names a model both ends hold: it carries no values.
  SnapshotChunk based{1, 0, 2, Precision::bf16, {}, {0x3f80}, 7};
  CHECK(encode(based).error().kind == ErrorKind::invalid_argument);
  based.values_half.clear();
  based.offset = 1;
  CHECK(encode(based).error().kind == ErrorKind::invalid_argument);
  based.offset = 0;
  CHECK(encode(based).ok());
  // A model goes in f32 or bf16, never f16.
  CHECK(encode(ModelRequest{0, 0, 0, Precision::f16}).error().kind == ErrorKind::invalid_argument);
  CHECK(encode(ModelChunk{1, 0, 4, {1, 2}, Precision::f16}).error().kind == ErrorKind::invalid_argument);

  MemberRecord record = samples::member(1, MemberState::alive);
  record.address = std::string(300, 'a');
  CHECK(encode(Join{samples::node_id(1), "", {}, record}).error().kind == ErrorKind::invalid_argument);
  CHECK(encode(Gossip{samples::node_id(1), "", {Update{record, samples::node_id(2), std::nullopt}}}).error().kind ==
        ErrorKind::invalid_argument);

  SealedDatagram datagram;
  datagram.ciphertext.assign(Limits{}.max_ciphertext_bytes + 1, 1);
  CHECK(encode(datagram).error().kind == ErrorKind::invalid_argument);
}

TEST_CASE("random garbage never crashes the decoder", "[wire][codec]") {
  std::uint64_t state = 0x9e3779b97f4a7c15ull;
  auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  for (int round = 0; round < 20000; ++round) {
    std::vector<std::uint8_t> bytes((next() % 64 + 1) * 8);
    for (auto& b : bytes) b = static_cast<std::uint8_t>(next());
    // A plausible one-segment table makes the parser go further.
    if (round % 2 == 0) {
      std::uint32_t words = static_cast<std::uint32_t>(bytes.size() / 8 - 1);
      std::memset(bytes.data(), 0, 4);
      std::memcpy(bytes.data() + 4, &words, 4);
    }
    auto decoded = decode(bytes);
    if (!decoded.ok()) {
      auto kind = decoded.error().kind;
      CHECK((kind == ErrorKind::corrupt || kind == ErrorKind::unsupported || kind == ErrorKind::overloaded));
    }
  }
}

namespace {

// Overwrites the one occurrence of `from` in bytes with `to` (same length).
void patch_text(std::vector<std::uint8_t>& bytes, std::string_view from, std::string_view to) {
  REQUIRE(from.size() == to.size());
  auto at = std::search(bytes.begin(), bytes.end(), from.begin(), from.end());
  REQUIRE(at != bytes.end());  // the layout still stores the text as is
  std::copy(to.begin(), to.end(), at);
}

}  // namespace

// Regression: any non-empty address used to pass, and a peer put it into its
// status JSON; a non-UTF-8 one made nlohmann's dump() throw inside a libuv
// callback. Addresses off the wire must be HOST:PORT, texts valid UTF-8.
TEST_CASE("a decoded address that is not HOST:PORT or not UTF-8 is refused", "[wire][codec]") {
  const std::string good = "127.0.0.9:7000";
  for (std::string_view bad : {std::string_view("\xff\xfe" "7.0.0.9:7000"), std::string_view("127.0.0.9 7000"),
                               std::string_view("127.0.0.9:70x0"), std::string_view("127.0.0\n9:7000")}) {
    INFO(bad);
    std::vector<Message> carriers;
    carriers.push_back(Ping{samples::node_id(1), good, {}, 1, samples::node_id(2)});
    MemberRecord record = samples::member(3, MemberState::alive);
    record.address = good;
    carriers.push_back(Gossip{samples::node_id(1), "127.0.0.1:7000", {Update{record, samples::node_id(2), std::nullopt}}});
    carriers.push_back(PushPull{samples::node_id(1), "127.0.0.1:7000", {}, true, false, {record}});
    carriers.push_back(Join{samples::node_id(1), "127.0.0.1:7000", {}, record});
    carriers.push_back(IndirectPing{samples::node_id(1), "127.0.0.1:7000", {}, 5, samples::node_id(3), good});
    for (const Message& message : carriers) {
      auto bytes = encoded(message);
      patch_text(bytes, good, bad);
      CHECK(decode_error(bytes) == ErrorKind::corrupt);
    }
  }
}

TEST_CASE("decoded human-readable text must be valid UTF-8", "[wire][codec]") {
  Reset reset;
  reset.detail = "peer stopping";
  auto bytes = encoded(reset);
  patch_text(bytes, "stopping", "st\xc3(ping");  // a two-byte sequence cut short
  CHECK(decode_error(bytes) == ErrorKind::corrupt);

  StatusAnswer answer{1, R"({"address":"10.0.0.1:1"})"};
  bytes = encoded(answer);
  patch_text(bytes, "10.0.0.1", "10.0.\xed\xa0\x80");  // an encoded surrogate
  CHECK(decode_error(bytes) == ErrorKind::corrupt);

  // And nothing of the kind leaves either.
  reset.detail = "\xff";
  CHECK(encode(reset).error().kind == ErrorKind::invalid_argument);
  CHECK(encode(Ping{samples::node_id(1), "not an address", {}, 1, samples::node_id(2)}).error().kind ==
        ErrorKind::invalid_argument);
}

TEST_CASE("UTF-8 validation follows RFC 3629", "[wire][text]") {
  for (const char* good : {"", "plain", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9d\x84\x9e", "\xef\xbf\xbd"}) {
    INFO(good);
    CHECK(is_valid_utf8(good));
  }
  for (const char* bad : {"\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",
                          "\x80", "\xc3", "\xe2\x82", "\xf0\x9d\x84", "\xe2\x28\xa1", "\xff"}) {
    INFO(bad);
    CHECK_FALSE(is_valid_utf8(bad));
  }
}

TEST_CASE("member keys, signatures and accusations of the wrong size are corrupt", "[wire][codec]") {
  // A Join's record holds the only 64-byte field: the member's signature.
  auto join = encoded(Join{samples::node_id(1), "", {}, samples::member(1, MemberState::alive)});
  REQUIRE(shrink_data_fields(join, 64) == 1);
  auto decoded = decode(join);
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.error().kind == ErrorKind::corrupt);
  CHECK_THAT(decoded.error().message, Catch::Contains("64 bytes"));
  // A suspect update: the record's signature and the accusation.
  Update suspect{samples::member(2, MemberState::suspect), samples::node_id(3), samples::bytes<64>(9)};
  auto gossip = encoded(Gossip{samples::node_id(1), "", {suspect}});
  REQUIRE(shrink_data_fields(gossip, 64) == 2);
  CHECK(decode_error(gossip) == ErrorKind::corrupt);
  // An accusation is optional: absent round-trips as absent.
  suspect.accusation.reset();
  auto plain = decode(encoded(Gossip{samples::node_id(1), "", {suspect}}));
  REQUIRE(plain.ok());
  CHECK_FALSE(std::get<Gossip>(plain.value()).updates.at(0).accusation.has_value());
}
