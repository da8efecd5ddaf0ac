// Compressors on the reference MLP 784-256-128-10 (235146 floats, biases sent
// exactly): compress and decompress_add, per call and in GB/s of the dense
// float32 vector, with the payload bytes next to the dense 940584.
// A realistic input: x - x̂ is gradient-like, so the benchmark compresses a
// vector of normally distributed values of varied magnitude.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "starling/compress/compressor.h"
#include "starling/compress/mlp_layout.h"

namespace {

using namespace starling::compress;

const char* const kSpecs[] = {"none", "topk:0.01", "topk:0.1", "randk:0.01", "int8", "sign"};

struct Fixture {
  starling::ml::Mlp model{*starling::ml::ModelSpec::parse("mlp:256,128"), 784, 10};
  Layout layout = layout_for(model);
  std::vector<float> x;
  std::vector<float> x_next;  // the model a while later, for CHOCO rounds

  Fixture() {
    std::mt19937 engine(1);
    std::normal_distribution<float> normal(0.0f, 1e-3f);
    x.resize(layout.dimension());
    x_next.resize(layout.dimension());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = normal(engine) * (1.0f + float(i % 13));
    for (std::size_t i = 0; i < x.size(); ++i) x_next[i] = x[i] + normal(engine);
  }
};

const Fixture& fixture() {
  static const Fixture instance;
  return instance;
}

void report(benchmark::State& state, const CompressedDelta& q) {
  const double dense = 4.0 * double(fixture().x.size());
  state.SetBytesProcessed(std::int64_t(state.iterations()) * std::int64_t(dense));
  state.counters["wire_bytes"] = double(wire_bytes(q));
  state.counters["dense_bytes"] = dense;
  state.counters["ratio_pct"] = 100.0 * double(wire_bytes(q)) / dense;
}

void compress(benchmark::State& state, const char* spec) {
  const Fixture& f = fixture();
  Compressor compressor(CompressorSpec::parse(spec).value(), f.layout, 1);
  CompressedDelta q;
  for (auto _ : state) {
    if (!compressor.compress_into(f.x, q).ok()) state.SkipWithError("compress failed");
    benchmark::DoNotOptimize(q.values.data());
  }
  report(state, q);
}

void decompress_add(benchmark::State& state, const char* spec) {
  const Fixture& f = fixture();
  Compressor compressor(CompressorSpec::parse(spec).value(), f.layout, 1);
  const CompressedDelta q = compressor.compress(f.x).value();
  std::vector<float> target(f.x.size(), 0.0f);
  for (auto _ : state) {
    if (!starling::compress::decompress_add(f.layout, q, target).ok()) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(target.data());
    benchmark::ClobberMemory();
  }
  report(state, q);
}

// A whole CHOCO round on one link: q = C(x - x̂), then x̂ += q. The model
// alternates between two states, so x - x̂ never settles at zero.
void choco_round(benchmark::State& state, const char* spec) {
  const Fixture& f = fixture();
  Compressor compressor(CompressorSpec::parse(spec).value(), f.layout, 1);
  std::vector<float> x_hat(f.x.size(), 0.0f);
  std::vector<float> scratch(f.x.size());  // as the peer does: one buffer lent to all its links
  CompressedDelta q;
  bool flip = false;
  for (auto _ : state) {
    flip = !flip;
    if (!compressor.compress_difference(flip ? f.x_next : f.x, x_hat, q, scratch).ok())
      state.SkipWithError("compress failed");
    if (!starling::compress::decompress_add(f.layout, q, x_hat).ok()) state.SkipWithError("decode failed");
    benchmark::ClobberMemory();
  }
  report(state, q);
}

int register_all() {
  for (const char* spec : kSpecs) {
    benchmark::RegisterBenchmark((std::string("compress/") + spec).c_str(), compress, spec)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark((std::string("decompress_add/") + spec).c_str(), decompress_add, spec)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark((std::string("choco_round/") + spec).c_str(), choco_round, spec)
        ->Unit(benchmark::kMicrosecond);
  }
  return 0;
}

const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
