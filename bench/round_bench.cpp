// One delta round of a real peer's loop thread, piece by piece, for one link
// of the default MLP (784-256-128-10, 235,146 parameters): the consensus step
// (correction norm + pull), the compressed delta, its Cap'n Proto encoding,
// the AEAD seal, and on the receiving end open + decode + apply to the copy.
// docs/learning.md ("When a peer gossips") has the figures.
//
//   build/bench/bench_round [--benchmark_filter=int8]
#include <benchmark/benchmark.h>

#include <Eigen/Core>

#include <array>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "starling/compress/mlp_layout.h"
#include "starling/compress/spec.h"
#include "starling/crypto/frame.h"
#include "starling/ml/model.h"
#include "starling/node/delta_wire.h"
#include "starling/node/link.h"
#include "starling/runtime/step_handoff.h"
#include "starling/wire/codec.h"

using namespace starling;

namespace {

const char* const kCompressors[] = {"int8", "sign", "topk:0.01", "none"};

struct Pair {
  compress::Layout layout;
  node::LinkState out;  // i→j at i (and i's view of j)
  node::LinkState in;   // the same link at j
  Eigen::VectorXf x;
  Eigen::VectorXf y;
  std::mt19937 random{7};

  explicit Pair(const compress::CompressorSpec& spec)
      : layout(make_layout()), out(layout, spec, 1), in(layout, spec, 1), x(dimension()), y(dimension()) {
    std::normal_distribution<float> normal(0.0f, 0.05f);
    for (auto& v : x) v = normal(random);
    for (auto& v : y) v = normal(random);
    auto a = out.start(x, 1);
    auto b = in.start(y, 1);
    (void)in.on_snapshot(*a);
    (void)out.on_snapshot(*b);
  }
  static compress::Layout make_layout() {
    ml::Mlp model(*ml::ModelSpec::parse("mlp:256,128"), 784, 10);
    return compress::layout_for(model);
  }
  Eigen::Index dimension() const { return Eigen::Index(layout.dimension()); }
  // A training step's worth of change, so every delta carries something.
  void train() {
    std::normal_distribution<float> normal(0.0f, 1e-3f);
    for (Eigen::Index k = 0; k < x.size(); k += 97) x[k] += normal(random);
    x *= 0.9999f;
  }
};

void BM_consensus(benchmark::State& state, const char* compressor) {
  Pair pair(*compress::CompressorSpec::parse(compressor));
  Eigen::VectorXf correction(pair.dimension());
  for (auto _ : state) {
    // As TrainingDriver::consensus does: the pull written over the round's
    // correction in the pass that measures its norm (for the clipping
    // radius); a second pass only when the radius clips (not here).
    auto norm = pair.out.pull(correction, 1.0f * 0.5f, true);
    const node::PullFactor pull = node::pull_factor(1.0f, 0.5f, *norm, std::numeric_limits<double>::infinity());
    if (pull.clipped) (void)pair.out.pull(correction, pull.factor - 0.5f, false);
    benchmark::DoNotOptimize(norm);
    benchmark::DoNotOptimize(correction.data());
  }
}

void BM_make_delta(benchmark::State& state, const char* compressor) {
  Pair pair(*compress::CompressorSpec::parse(compressor));
  std::vector<float> scratch(std::size_t(pair.dimension()));
  for (auto _ : state) {
    state.PauseTiming();
    pair.train();
    state.ResumeTiming();
    auto delta = pair.out.make_delta(pair.x, scratch);
    benchmark::DoNotOptimize(delta);
    state.PauseTiming();
    (void)pair.in.on_delta(*delta);
    state.ResumeTiming();
  }
}

// Encode, seal, open, decode and apply one delta: the wire half of a round
// (sender and receiver; a peer with symmetric links pays both).
void BM_wire(benchmark::State& state, const char* compressor, bool sealed_half, bool receive_half) {
  Pair pair(*compress::CompressorSpec::parse(compressor));
  std::array<std::uint8_t, 32> bytes{};
  bytes.fill(0x5a);
  const crypto::SymmetricKey key{bytes};
  const crypto::FrameAead aead =
      crypto::aes256gcm_available() ? crypto::FrameAead::aes256_gcm : crypto::FrameAead::chacha20_poly1305;
  std::vector<std::uint8_t> frame;
  std::int64_t frame_bytes = 0;
  for (auto _ : state) {
    state.PauseTiming();
    pair.train();
    auto delta = pair.out.make_delta(pair.x);
    const node::LinkDelta kept = *delta;  // for the receiving copy when the receive half is not timed
    crypto::FrameSealer sealer(key, aead);
    crypto::FrameOpener opener(key, aead);
    const wire::Message message{node::to_wire(std::move(*delta))};
    state.ResumeTiming();
    (void)wire::encode_into(message, frame);
    if (sealed_half || receive_half) {
      const std::size_t plain = frame.size();
      frame.resize(crypto::sealed_frame_size(plain));
      (void)sealer.seal_in_place(frame, plain);
      if (receive_half) {
        auto opened = opener.open_in_place(frame);
        auto decoded = wire::decode(*opened);
        auto& wire_delta = std::get<wire::Delta>(*decoded);
        node::LinkDelta link_delta;
        link_delta.epoch = wire_delta.epoch;
        link_delta.seq = wire_delta.seq;
        link_delta.delta.kind = static_cast<compress::CompressorKind>(wire_delta.compressor);
        link_delta.delta.dimension = wire_delta.dimension;
        link_delta.delta.seed = wire_delta.seed;
        link_delta.delta.indices = std::move(wire_delta.indices);
        link_delta.delta.values = std::move(wire_delta.values);
        link_delta.delta.codes = std::move(wire_delta.codes);
        link_delta.delta.scales = std::move(wire_delta.scales);
        benchmark::DoNotOptimize(pair.in.on_delta(link_delta));
      }
    }
    frame_bytes = std::int64_t(frame.size());
    if (!receive_half) {
      state.PauseTiming();
      (void)pair.in.on_delta(kept);
      state.ResumeTiming();
    }
  }
  state.counters["frame_bytes"] = double(frame_bytes);
}

// The loop thread hands the round's correction to the trainer
// (StepHandoff::offer_correction) with nothing pending, the usual case; the
// trainer's serve() at its next step boundary is not timed.
void BM_offer_correction(benchmark::State& state) {
  const Eigen::Index n = Pair::make_layout().dimension();
  runtime::StepHandoffOptions options;
  options.parameter_count = std::size_t(n);
  runtime::StepHandoff handoff(options);
  const Eigen::VectorXf correction = Eigen::VectorXf::Constant(n, 1e-3f);
  Eigen::VectorXf parameters = Eigen::VectorXf::Zero(n);
  const auto add = [&parameters](const Eigen::VectorXf& sum) {
    parameters += sum;
    return ok_status();
  };
  for (auto _ : state) {
    benchmark::DoNotOptimize(handoff.offer_correction(correction));
    state.PauseTiming();
    (void)handoff.serve(1, add, parameters);
    state.ResumeTiming();
  }
}

void register_all() {
  benchmark::RegisterBenchmark("handoff/offer_correction", BM_offer_correction)->Unit(benchmark::kMicrosecond);
  for (const char* c : kCompressors) {
    const std::string name(c);
    benchmark::RegisterBenchmark(("consensus/" + name).c_str(), BM_consensus, c)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("make_delta/" + name).c_str(), BM_make_delta, c)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("encode/" + name).c_str(), BM_wire, c, false, false)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("encode_seal/" + name).c_str(), BM_wire, c, true, false)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("encode_seal_open_decode_apply/" + name).c_str(), BM_wire, c, true, true)
        ->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
