// libFuzzer target for one CHOCO link (node::LinkState), fed sequences of
// training messages. The first byte picks the compressor. Then each step is
//   0:    a length-prefixed chunk decoded with the real codec (wire::decode);
//         a snapshot chunk, delta, digest, reset or hello is mapped to the
//         link's structs the way the training driver maps them and applied;
//   1..3: an honest neighbour (a second LinkState) starts an epoch, sends a
//         delta or a digest, through encode + decode, so the fuzzer reaches
//         ready links and corrupts them from there;
//   4:    we start a new epoch;  5: a consensus step (gamma, weight and clip
//         radius from the input);  6: we send a delta;  7: our model moves by
//         fuzzed floats (NaN and inf included).
// Properties: a delta, digest or snapshot the link refuses as corrupt leaves it
// broken (not ready), never half-applied; a ready link has finite copies of
// the right size; a consensus step on finite copies keeps a finite model
// finite and never moves it further than its (clipped) correction says.
#include <bit>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "fuzz_input.h"
#include "starling/node/delta_wire.h"
#include "starling/node/link.h"
#include "starling/wire/codec.h"

using namespace starling;

namespace {

constexpr const char* kTarget = "fuzz_link";
constexpr std::size_t kDim = 40;  // a compressed segment of 32 and an exact one of 8

compress::Layout layout() {
  compress::LayoutPolicy policy;
  policy.exact_below = 16;
  return compress::Layout::make(kDim, {{0, 32}, {32, 8}}, policy).value();
}

compress::CompressorSpec spec(std::uint8_t choice) {
  static const char* const kSpecs[] = {"none", "topk:0.25", "randk:0.25", "int8", "sign"};
  return compress::CompressorSpec::parse(kSpecs[choice % 5]).value();
}

// The training driver's mapping (src/runtime/training_driver.cpp), for a
// snapshot that fits one chunk.
std::optional<node::LinkSnapshot> to_snapshot(const wire::SnapshotChunk& chunk) {
  if (chunk.offset != 0 || chunk.total != kDim) return std::nullopt;
  node::LinkSnapshot snapshot{chunk.epoch, {}};
  if (chunk.precision == wire::Precision::f32) {
    snapshot.values = chunk.values_f32;
  } else {
    for (std::uint16_t half : chunk.values_half) snapshot.values.push_back(std::bit_cast<float>(std::uint32_t(half) << 16));
  }
  return snapshot;
}

wire::Message to_wire(const node::LinkSnapshot& snapshot) {
  wire::SnapshotChunk chunk;
  chunk.epoch = snapshot.epoch;
  chunk.total = snapshot.values.size();
  chunk.precision = wire::Precision::bf16;
  for (float v : snapshot.values) chunk.values_half.push_back(std::uint16_t(std::bit_cast<std::uint32_t>(v) >> 16));
  return chunk;
}

bool finite(const Eigen::VectorXf& v) { return v.allFinite(); }

void after_refusal(const node::LinkState& link, const Status& status, const char* what) {
  if (!status.ok() && status.error().kind == ErrorKind::corrupt && link.ready()) {
    fuzz::property_failed(kTarget, std::string("a refused ") + what + " left the link ready: " + status.error().message);
  }
}

// Applies one decoded training message to the link under test.
void apply_message(node::LinkState& link, const wire::Message& message) {
  if (const auto* chunk = std::get_if<wire::SnapshotChunk>(&message)) {
    if (auto snapshot = to_snapshot(*chunk)) after_refusal(link, link.on_snapshot(*snapshot), "snapshot");
  } else if (const auto* delta = std::get_if<wire::Delta>(&message)) {
    after_refusal(link, link.on_delta(node::from_wire(*delta)), "delta");
  } else if (const auto* digest = std::get_if<wire::Digest>(&message)) {
    after_refusal(link, link.on_digest(node::LinkDigest{digest->epoch, digest->seq, digest->hash}), "digest");
  } else if (const auto* reset = std::get_if<wire::Reset>(&message)) {
    link.on_reset(node::LinkReset{reset->epoch, reset->detail});
  }
}

// What the neighbour sends crosses the real codec before it reaches the link.
void deliver(node::LinkState& link, const wire::Message& message) {
  auto bytes = wire::encode(message);
  if (!bytes.ok()) return;  // e.g. an epoch's snapshot too big: nothing sent
  auto decoded = wire::decode(*bytes);
  if (!decoded.ok()) fuzz::property_failed(kTarget, "an encoded message does not decode: " + decoded.error().message);
  apply_message(link, *decoded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Input in(data, size);
  const compress::CompressorSpec compressor = spec(in.u8());
  node::LinkState link(layout(), compressor, 7);
  node::LinkState neighbour(layout(), compressor, 8);
  Eigen::VectorXf x = Eigen::VectorXf::LinSpaced(kDim, -1.0f, 1.0f);
  Eigen::VectorXf y = Eigen::VectorXf::LinSpaced(kDim, 2.0f, -0.5f);
  for (int steps = 0; !in.empty() && steps < 256; ++steps) {
    switch (in.u8() % 8) {
      case 0: {
        auto decoded = wire::decode(in.chunk());
        if (decoded.ok()) apply_message(link, *decoded);
        break;
      }
      case 1: {
        auto snapshot = neighbour.start(y, std::max(link.epoch(), neighbour.epoch()) + in.u8() % 2);
        if (snapshot.ok()) deliver(link, to_wire(*snapshot));
        break;
      }
      case 2: {
        y *= 0.5f + float(in.u8()) / 128.0f;
        auto delta = neighbour.make_delta(y);
        if (delta.ok()) deliver(link, node::to_wire(std::move(*delta)));
        break;
      }
      case 3: {
        const node::LinkDigest digest = neighbour.make_digest();
        deliver(link, wire::Digest{digest.epoch, digest.seq, digest.hash});
        break;
      }
      case 4: (void)link.start(x, link.epoch() + in.u8() % 2); break;
      case 5: {
        const float gamma = float(in.u8()) / 255.0f;
        const float weight = float(in.u8()) / 255.0f;
        const double radius = in.u8() == 0 ? std::numeric_limits<double>::infinity() : double(in.u16()) / 16.0;
        const bool was_finite = finite(x) && finite(link.in_copy()) && finite(link.out_copy());
        const Eigen::VectorXf before = x;
        auto step = link.consensus_step(x, gamma, weight, radius);
        if (!step.ok()) break;
        // In double: a float norm of a large (finite) vector overflows to inf.
        const double moved = (x - before).cast<double>().norm();
        // Float rounding of x itself (its ulps) may add to what moved.
        const double slack = 1e-4 + 1e-5 * before.cast<double>().norm();
        if (was_finite && std::isfinite(step->correction_norm)) {
          if (!finite(x)) fuzz::property_failed(kTarget, "a consensus step made a finite model non-finite");
          if (moved > step->applied_norm * 1.001 + slack) {
            fuzz::property_failed(kTarget, "a step moved the model by " + std::to_string(moved) + ", reports " +
                                               std::to_string(step->applied_norm) + " (correction " +
                                               std::to_string(step->correction_norm) + ", gamma*weight " +
                                               std::to_string(gamma * weight) + (step->clipped ? ", clipped)" : ")"));
          }
          if (step->clipped && moved > radius * double(gamma * weight) * 1.001 + slack) {
            fuzz::property_failed(kTarget, "a clipped step moved the model beyond the radius");
          }
        }
        break;
      }
      case 6: (void)link.make_delta(x); break;
      case 7: {
        const std::size_t k = in.u8() % kDim;
        x[Eigen::Index(k)] = in.f32();
        break;
      }
    }
    if (link.ready() && (!finite(link.in_copy()) || link.in_copy().size() != Eigen::Index(kDim))) {
      fuzz::property_failed(kTarget, "a ready link holds a non-finite copy of the neighbour");
    }
  }
  return 0;
}
