// node/wire_fit.h: the largest delta's size is what the compressors really
// send, and a model too large for links is refused, naming what does not fit.
// (An embedded model of 20M parameters joined and downloaded, then never
// mixed: its int8 deltas failed to encode, its snapshots overflowed the
// send backlog, and nothing said so.)
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "starling/compress/compressor.h"
#include "starling/node/transport.h"
#include "starling/node/wire_fit.h"
#include "starling/wire/codec.h"

using namespace starling;
using namespace starling::node;

namespace {

compress::CompressorSpec spec(const char* text) { return *compress::CompressorSpec::parse(text); }

}  // namespace

TEST_CASE("wire fit: the largest delta is the size a compressor's own and settling deltas have", "[node]") {
  // Two compressed segments and an exact one, as an MLP's weights and biases.
  auto layout = compress::Layout::make(5000, {{0, 3000}, {3000, 10}, {3010, 1990}});
  REQUIRE(layout.ok());
  std::mt19937 random(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(5000);
  for (float& v : x) v = normal(random);
  for (const char* text : {"none", "int8", "sign", "sign2", "topk:0.01", "randk:0.1"}) {
    INFO(text);
    compress::Compressor own(spec(text), *layout, 1);
    auto delta = own.compress(x);
    REQUIRE(delta.ok());
    compress::Compressor settle(spec("int8"), *layout, 1);
    auto first = settle.compress(x);
    REQUIRE(first.ok());
    const std::size_t largest = largest_delta_bytes(*layout, spec(text), {});
    std::size_t sent = compress::wire_bytes(*delta);
    if (std::string(text) != "none" && std::string(text) != "int8") sent = std::max(sent, compress::wire_bytes(*first));
    CHECK(largest >= sent);
    CHECK(largest <= sent + 16);  // an estimate of the same bytes, not a loose bound
  }
}

TEST_CASE("wire fit: models too large for links are refused, naming the limit and the size that fits", "[node]") {
  const std::size_t backlog = TransportLimits{}.max_pending_outbound_bytes;
  const compress::SparsityWarmup none_warmup{};
  // none: 4 bytes a value against a 16 MiB message.
  CHECK(check_links_carry(compress::Layout::whole(4'000'000), spec("none"), none_warmup, backlog).ok());
  const Status big = check_links_carry(compress::Layout::whole(4'300'000), spec("none"), none_warmup, backlog);
  REQUIRE_FALSE(big.ok());
  CHECK(big.error().kind == ErrorKind::invalid_argument);
  CHECK(big.error().message.find("the model has 4300000 parameters") != std::string::npos);
  CHECK(big.error().message.find("message limit") != std::string::npos);
  CHECK(big.error().message.find("up to about 41") != std::string::npos);  // about 4.19M
  // sign: the int8 delta that opens each epoch is the largest (1 byte a value).
  CHECK(check_links_carry(compress::Layout::whole(16'000'000), spec("sign"), none_warmup, backlog).ok());
  const Status settle = check_links_carry(compress::Layout::whole(20'000'000), spec("sign"), none_warmup, backlog);
  REQUIRE_FALSE(settle.ok());
  CHECK(settle.error().message.find("the int8 delta that opens each link's epoch") != std::string::npos);
  // top-k's warm-up sends a quarter of the values, 8 bytes each, at first.
  compress::SparsityWarmup warmup;
  warmup.rounds = 10;
  CHECK(check_links_carry(compress::Layout::whole(10'000'000), spec("topk:0.01"), none_warmup, backlog).ok());
  CHECK_FALSE(check_links_carry(compress::Layout::whole(10'000'000), spec("topk:0.01"), warmup, backlog).ok());
  // The snapshot (bf16, queued whole when a link opens) against a smaller backlog.
  const Status queued = check_links_carry(compress::Layout::whole(1'000'000), spec("sign"), none_warmup, 2u << 20);
  REQUIRE_FALSE(queued.ok());
  CHECK(queued.error().message.find("snapshot") != std::string::npos);
  CHECK(check_links_carry(compress::Layout::whole(0), spec("none"), none_warmup, backlog).ok());
}
