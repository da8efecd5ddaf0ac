// A CompressedDelta maps field by field onto wire::Delta and survives the real
// codec: the receiver decodes the same bits the sender applied to its own x̂.
#include <catch2/catch.hpp>

#include <cstring>
#include <random>

#include "starling/compress/compressor.h"
#include "starling/compress/mlp_layout.h"
#include "starling/wire/codec.h"

using namespace starling;
using namespace starling::compress;

namespace {

static_assert(int(CompressorKind::none) == int(wire::CompressorKind::none));
static_assert(int(CompressorKind::topk) == int(wire::CompressorKind::topk));
static_assert(int(CompressorKind::randk) == int(wire::CompressorKind::randk));
static_assert(int(CompressorKind::int8) == int(wire::CompressorKind::int8));
static_assert(int(CompressorKind::sign) == int(wire::CompressorKind::sign));
static_assert(int(CompressorKind::sign2) == int(wire::CompressorKind::sign2));

wire::Delta to_wire(const CompressedDelta& q, std::uint64_t epoch, std::uint64_t seq) {
  wire::Delta d;
  d.epoch = epoch;
  d.seq = seq;
  d.compressor = static_cast<wire::CompressorKind>(q.kind);
  d.dimension = q.dimension;
  d.seed = q.seed;
  d.indices = q.indices;
  d.values = q.values;
  d.codes = q.codes;
  d.scales = q.scales;
  return d;
}

CompressedDelta from_wire(const wire::Delta& d) {
  CompressedDelta q;
  q.kind = static_cast<CompressorKind>(d.compressor);
  q.dimension = d.dimension;
  q.seed = d.seed;
  q.indices = d.indices;
  q.values = d.values;
  q.codes = d.codes;
  q.scales = d.scales;
  return q;
}

}  // namespace

TEST_CASE("compressed deltas cross the wire codec bit for bit", "[compress]") {
  ml::Mlp model(*ml::ModelSpec::parse("mlp:256,128"), 784, 10);
  const Layout layout = layout_for(model);
  std::mt19937 engine(3);
  std::normal_distribution<float> normal(0.0f, 0.01f);
  std::vector<float> x(layout.dimension());
  for (float& v : x) v = normal(engine);

  for (const char* text : {"none", "topk:0.01", "randk:0.01", "int8", "sign", "sign2"}) {
    INFO(text);
    Compressor compressor(CompressorSpec::parse(text).value(), layout, 5);
    const CompressedDelta q = compressor.compress(x).value();
    auto bytes = wire::encode(wire::Message(to_wire(q, 1, 2)));
    REQUIRE(bytes.ok());
    auto message = wire::decode(*bytes);
    REQUIRE(message.ok());
    const auto* delta = std::get_if<wire::Delta>(&*message);
    REQUIRE(delta != nullptr);
    const CompressedDelta received = from_wire(*delta);
    CHECK(received == q);

    std::vector<float> sender_copy(x.size(), 0.0f), receiver_copy(x.size(), 0.0f);
    REQUIRE(decompress_add(layout, q, sender_copy).ok());
    REQUIRE(decompress_add(layout, received, receiver_copy).ok());
    CHECK(std::memcmp(sender_copy.data(), receiver_copy.data(), x.size() * sizeof(float)) == 0);
    // Cap'n Proto framing adds a few dozen bytes to the payload.
    CHECK(bytes->size() >= wire_bytes(q));
    CHECK(bytes->size() <= wire_bytes(q) + 128);
  }
}
