// Compressor specs from the command line, and the sparsity warm-up schedule.
#include <catch2/catch.hpp>

#include "starling/compress/spec.h"

using namespace starling;
using namespace starling::compress;

TEST_CASE("compressor specs parse", "[compress]") {
  auto none = CompressorSpec::parse("none");
  REQUIRE(none.ok());
  CHECK(none->kind == CompressorKind::none);
  auto topk = CompressorSpec::parse("topk:0.01");
  REQUIRE(topk.ok());
  CHECK(topk->kind == CompressorKind::topk);
  CHECK(topk->fraction == 0.01);
  CHECK(topk->to_string() == "topk:0.01");
  auto randk = CompressorSpec::parse("randk:1");
  REQUIRE(randk.ok());
  CHECK(randk->kind == CompressorKind::randk);
  CHECK(randk->fraction == 1.0);
  CHECK(CompressorSpec::parse("topk:1e-2")->fraction == 0.01);
  CHECK(CompressorSpec::parse("int8")->kind == CompressorKind::int8);
  CHECK(CompressorSpec::parse("sign")->kind == CompressorKind::sign);
  CHECK(CompressorSpec::parse("sign")->to_string() == "sign");
  CHECK(CompressorSpec::parse("sign2")->kind == CompressorKind::sign2);
  CHECK(CompressorSpec::parse("sign2")->to_string() == "sign2");
}

TEST_CASE("bad compressor specs are invalid_argument", "[compress]") {
  for (const char* text : {"", "topk", "topk:", "topk:0", "topk:-0.1", "topk:1.5", "topk:nan", "topk:inf",
                           "topk:0.01x", "randk:abc", "int8:4", "sign:", "sign2:1", "sign3", "none:1", "gzip", "TOPK:0.1",
                           " topk:0.1"}) {
    INFO(text);
    auto spec = CompressorSpec::parse(text);
    REQUIRE_FALSE(spec.ok());
    CHECK(spec.error().kind == ErrorKind::invalid_argument);
    CHECK(spec.error().message.find("expected none, topk:F") != std::string::npos);
  }
}

TEST_CASE("sparsity warm-up decays from the start fraction to the target", "[compress]") {
  SparsityWarmup off;
  CHECK(off.fraction_at(0.01, 0) == 0.01);
  SparsityWarmup warmup{0.25, 100};
  CHECK(warmup.fraction_at(0.01, 0) == Approx(0.25));
  double previous = 1.0;
  for (std::uint64_t round = 0; round < 100; ++round) {
    const double fraction = warmup.fraction_at(0.01, round);
    CHECK(fraction < previous);
    CHECK(fraction > 0.01 - 1e-12);
    previous = fraction;
  }
  CHECK(warmup.fraction_at(0.01, 50) == Approx(0.05));  // geometric midpoint of 0.25 and 0.01
  CHECK(warmup.fraction_at(0.01, 100) == 0.01);
  CHECK(warmup.fraction_at(0.01, 1000) == 0.01);
  // A start sparser than the target never makes a link sparser.
  CHECK(SparsityWarmup{0.001, 10}.fraction_at(0.01, 0) == 0.01);
}
